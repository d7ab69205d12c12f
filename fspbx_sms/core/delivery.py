"""Job handlers that deliver a message: to SIP phones over ESL, and to the outside world through a carrier."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.carriers import CarrierConfigError, CarrierError, OutboundMessage
from fspbx_sms.core import outbox
from fspbx_sms.core.adapters import AdapterCache
from fspbx_sms.db import session_scope
from fspbx_sms.esl import EslClient, EslUnavailable
from fspbx_sms.models import Direction, Job, JobState, Message, MessageEvent, MessageStatus

log = logging.getLogger(__name__)

_FINAL = {MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED}


def _record(session: Session, job: Job, kind: str, outcome: outbox.Outcome) -> Message | None:
    """Add the job's outcome to its message's audit log and move the message's status."""
    message = session.get(Message, job.message_id) if job.message_id else None
    if message is None:
        return None
    if isinstance(outcome, outbox.Done):
        detail = outcome.detail or outcome.status.value
        status = outcome.status
        if message.status not in _FINAL:
            message.status = outcome.status
    elif job.state is JobState.DEAD:
        detail = job.last_error or "failed"
        status = job.status
        message.status = job.status
        message.error_text = detail
        if isinstance(outcome, outbox.Fail) and outcome.code:
            message.error_code = outcome.code
    else:
        status = None
        detail = f"{'waiting' if isinstance(outcome, outbox.Wait) else 'will retry'}: {job.last_error}"
    session.add(MessageEvent(message=message, kind=kind, status=status, detail=f"{job.target}: {detail}"))
    return message


class SipDelivery:
    """Delivers a message to an extension's SIP devices (``bgapi chat``); waits while it is offline."""

    def __init__(self, sessions: sessionmaker[Session], clients: Sequence[EslClient], result_timeout: float):
        self._sessions = sessions
        self._clients = clients
        self._result_timeout = result_timeout

    def run(self, job: Job) -> outbox.Outcome:
        """Send the text if the extension has a registered device; otherwise park the job."""
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            # The phone shows who wrote: the texter's number, or the extension a colleague texted from.
            if message.direction is Direction.INBOUND:
                sender = message.remote_numbers[0] if message.remote_numbers else message.our_number
            else:
                sender = message.extension.number if message.extension else ""
            body = message.body
        user, _, domain = job.target.partition("@")
        client = next((c for c in self._clients if c.state == "connected"), None)
        if client is None:
            return outbox.Wait("FreeSWITCH is not connected")
        try:
            if not client.is_registered(user, domain):
                return outbox.Wait(f"{job.target} has no registered device")
            result = client.send_chat(
                from_number=sender, to_user=user, to_domain=domain, body=body, timeout=self._result_timeout
            )
        except EslUnavailable as err:
            return outbox.Retry(f"FreeSWITCH connection lost: {err}")
        if result.sent:
            return outbox.Done(
                MessageStatus.SENT, detail=f"phone accepted ({client.name})", reference=result.job_uuid
            )
        return outbox.Retry(f"phone did not accept the text: {result.reply}")

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Record the delivery attempt on the message."""
        _record(session, job, "sip", outcome)


class CarrierSend:
    """Sends a message through the carrier account of the number it goes out from."""

    def __init__(self, sessions: sessionmaker[Session], adapters: AdapterCache):
        self._sessions = sessions
        self._adapters = adapters

    def run(self, job: Job) -> outbox.Outcome:
        """Call the carrier's API; map its errors to retry-later or failed-for-good."""
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            if message.carrier_account is None:
                return outbox.Fail("the number this text goes out from has no carrier account")
            try:
                adapter = self._adapters.get(message.carrier_account)
            except CarrierConfigError as err:
                return outbox.Fail(f"carrier account {message.carrier_account.name!r}: {err}")
            outgoing = OutboundMessage(
                from_number=message.our_number,
                to_numbers=(job.target,),
                text=message.body,
                reference=str(message.id),
            )
        try:
            result = adapter.send(outgoing)
        except CarrierError as err:
            if err.retryable:
                return outbox.Retry(str(err), retry_after=err.retry_after)
            return outbox.Fail(str(err), code=err.code)
        return outbox.Done(
            MessageStatus.SENT,
            detail=f"carrier status {result.status.value}",
            reference=result.carrier_message_id,
        )

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Record the carrier's answer, and its message id so status callbacks find the message."""
        message = _record(session, job, "carrier", outcome)
        if message is not None and isinstance(outcome, outbox.Done):
            message.carrier_message_id = outcome.reference
