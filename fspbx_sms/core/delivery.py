"""Job handlers that deliver a message: to SIP phones over ESL, and to the outside world through a carrier."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.carriers import PROVIDERS, CarrierConfigError, CarrierError, OutboundMessage
from fspbx_sms.core import outbox
from fspbx_sms.core.adapters import AdapterCache
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_fetch import media_pending
from fspbx_sms.core.optouts import opt_out
from fspbx_sms.core.routing import apply_early_statuses
from fspbx_sms.db import session_scope
from fspbx_sms.models import Job, JobKind, JobState, Message, MessageEvent, MessageStatus, Origin

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


class CarrierSend:
    """Sends a message through the carrier account of the number it goes out from."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        adapters: AdapterCache,
        media: MediaLibrary | None = None,
        base_url: str = "",
    ):
        self._sessions = sessions
        self._adapters = adapters
        self._media = media
        self._base_url = base_url

    def run(self, job: Job) -> outbox.Outcome:
        """Call the carrier's API; map its errors to retry-later or failed-for-good."""
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            if message.carrier_account is None:
                return outbox.Fail("the number this text goes out from has no carrier account")
            if media_pending(session, message.id) and job.attempts < job.max_attempts - 1:
                return outbox.Retry("waiting for the pictures to be stored", retry_after=2.0)
            try:
                adapter = self._adapters.get(message.carrier_account)
            except CarrierConfigError as err:
                return outbox.Fail(f"carrier account {message.carrier_account.name!r}: {err}")
            outgoing = OutboundMessage(
                from_number=message.our_number,
                to_numbers=tuple(job.target.split(",")),  # a group conversation's key lists everyone
                text=message.body,
                media_urls=tuple(
                    self._base_url + self._media.signed_path(item.id)
                    for item in message.media
                    if item.storage_key and self._media is not None
                ),
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
        if message is None:
            return
        if isinstance(outcome, outbox.Done):
            message.carrier_message_id = outcome.reference
            if outcome.reference:
                apply_early_statuses(session, message)
        elif job.state is JobState.DEAD:
            provider = message.carrier_account.provider if message.carrier_account else ""
            if (
                isinstance(outcome, outbox.Fail)
                and outcome.code
                and provider in PROVIDERS
                and outcome.code in PROVIDERS[provider].opt_out_codes
                and "," not in job.target  # a group refusal does not say which member opted out
            ):
                opt_out(session, message.our_number, job.target, "carrier")
            if message.origin is Origin.SIP and message.extension is not None:
                # The phone that wrote it gets a short notice saying why (see sip_delivery's bounce).
                outbox.enqueue_in_order(
                    session, JobKind.SIP, message, message.extension.address, max_attempts=job.max_attempts
                )
