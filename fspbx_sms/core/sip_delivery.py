"""Delivering a text to every registered SIP device of an extension, on the node each one registered with.

One job per message and extension. A job sends to each device the parts of the text (split to fit a SIP
MESSAGE over UDP, plus a signed link per picture) in order, records what each device answered, and on a
retry sends only what a device has not accepted yet. Texts to one extension go out oldest first: a job
waits while an older one for the same extension is unfinished, and each finished job wakes the next.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

import gevent
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.db import session_scope
from fspbx_sms.esl import DeviceContact, EslClient, EslUnavailable
from fspbx_sms.esl.chat import split_text
from fspbx_sms.models import (
    Direction,
    Job,
    JobKind,
    JobState,
    Message,
    MessageEvent,
    MessageStatus,
    MessagingNumber,
    Origin,
    SipDeviceDelivery,
    SipRegistration,
    utcnow,
)

log = logging.getLogger(__name__)

_FINAL = {MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED}
#: Per-device outcomes that a retry does not send again.
_SETTLED = {"sent", "not_found", "rejected"}
_OFFLINE = "has no registered device"


def device_status(code: int | None, sent: bool) -> str:
    """The per-device outcome for a phone's SIP answer (``code`` 0 or None: no answer)."""
    if sent or (code is not None and 200 <= code < 300):
        return "sent"
    if code == 404:
        return "not_found"
    if code in (408, 480, 486, 503):
        return "unavailable"
    if not code:
        return "timeout"
    return "rejected"


@dataclass(frozen=True)
class _Text:
    sender: str
    parts: list[str]


@dataclass(frozen=True)
class _DeviceResult:
    """What one device answered to one part."""

    node: str
    device: DeviceContact
    user_agent: str
    part: int
    status: str
    code: int


class SipDelivery:
    """Delivers a message to an extension's SIP devices (``bgapi chat`` per device); waits while offline."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clients: Sequence[EslClient],
        result_timeout: float,
        *,
        max_bytes: int = 1300,
        waiting_email_after: float | None = None,
        media: MediaLibrary | None = None,
        base_url: str = "",
    ):
        self._sessions = sessions
        self._clients = clients
        self._result_timeout = result_timeout
        self._max_bytes = max_bytes
        self._waiting_email_after = waiting_email_after
        self._media = media
        self._base_url = base_url

    def run(self, job: Job) -> outbox.Outcome:
        """Send what each registered device has not accepted yet; park the job while nobody is online."""
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            if outbox.unfinished_ahead(session, JobKind.SIP, job.target, job.id):
                return outbox.Wait(f"an older text to {job.target} goes first")
            text = self._text(message, job.target)
            user, _, domain = job.target.partition("@")
            devices = session.scalars(
                select(SipRegistration)
                .where(SipRegistration.user == user, SipRegistration.domain == domain)
                .order_by(SipRegistration.id)
            ).all()
            targets = [(row.node, _device(row), row.user_agent) for row in devices]
            settled = {
                (row.node, row.contact, row.part): row.status
                for row in session.scalars(select(SipDeviceDelivery).where(SipDeviceDelivery.job_id == job.id))
            }
        if not targets:
            return outbox.Wait(f"{job.target} {_OFFLINE}")
        # Devices in parallel (a silent phone holds its send up to ~20 s), parts of one device in order.
        sends = [
            gevent.spawn(self._send_to_device, job, text, node, device, agent, settled)
            for node, device, agent in targets
        ]
        gevent.joinall(sends)
        results = [result for send in sends for result in send.get()]
        self._store_results(job, results)
        return _outcome(job.target, results, settled)

    def _text(self, message: Message, target: str) -> _Text:
        if is_bounce(message, target):
            # Shown in the conversation with the number the phone tried to text.
            sender = message.remote_numbers[0] if message.remote_numbers else "fspbx-sms"
            return _Text(sender=sender, parts=split_text(bounce_notice(message), self._max_bytes))
        # The phone shows who wrote: the texter's number, or the extension a colleague texted from.
        if message.direction is Direction.INBOUND:
            sender = message.remote_numbers[0] if message.remote_numbers else message.our_number
        else:
            sender = message.extension.number if message.extension else ""
        body = message.body
        if self._media is not None:
            links = [
                self._base_url + self._media.signed_path(item.id) for item in message.media if item.storage_key
            ]
            body = "\n".join(filter(None, [body, *links]))
        return _Text(sender=sender, parts=split_text(body, self._max_bytes))

    def _send_to_device(
        self,
        job: Job,
        text: _Text,
        node: str,
        device: DeviceContact,
        agent: str,
        settled: dict[tuple[str, str, int], str],
    ) -> list[_DeviceResult]:
        """Send the parts the device has not settled, in order; stop at the first one it did not accept."""
        client = next((c for c in self._clients if c.name == node), None)
        results = []
        for number, part in enumerate(text.parts, 1):
            previous = settled.get((node, device.contact, number))
            if previous in _SETTLED:
                if previous != "sent":
                    break
                continue
            if client is None or client.state != "connected":
                results.append(_DeviceResult(node, device, agent, number, "unavailable", 0))
                break
            try:
                result = client.send_chat(
                    from_number=text.sender,
                    to_user=device.user,
                    to_domain=device.domain,
                    body=part,
                    timeout=self._result_timeout,
                    device=device,
                )
            except EslUnavailable as err:
                log.warning("job %s: %s on %s: outcome unknown (%s)", job.id, device.contact, node, err)
                results.append(_DeviceResult(node, device, agent, number, "timeout", 0))
                break
            status = device_status(result.code, result.sent)
            results.append(_DeviceResult(node, device, agent, number, status, result.code or 0))
            if status != "sent":
                break
        return results

    def _store_results(self, job: Job, results: list[_DeviceResult]) -> None:
        with session_scope(self._sessions) as session:
            for result in results:
                row = session.scalars(
                    select(SipDeviceDelivery).where(
                        SipDeviceDelivery.job_id == job.id,
                        SipDeviceDelivery.node == result.node,
                        SipDeviceDelivery.contact == result.device.contact,
                        SipDeviceDelivery.part == result.part,
                    )
                ).one_or_none()
                if row is None:
                    session.add(
                        SipDeviceDelivery(
                            job_id=job.id,
                            message_id=job.message_id,
                            node=result.node,
                            contact=result.device.contact,
                            user_agent=result.user_agent,
                            part=result.part,
                            status=result.status,
                            sip_code=result.code,
                        )
                    )
                else:
                    row.status, row.sip_code, row.attempts = result.status, result.code, row.attempts + 1

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Record the attempt on the message; fall back to email after a long wait; wake the next text."""
        outbox.lock_target(session, JobKind.SIP, job.target)
        message = session.get(Message, job.message_id) if job.message_id else None
        if message is None:
            return
        offline = isinstance(outcome, outbox.Wait) and outcome.reason.endswith(_OFFLINE)
        if offline and _registered(session, job.target):
            # A device registered while this job was finding none: deliver now rather than wait for the next.
            job.state, job.next_run_at = JobState.PENDING, utcnow()
        elif offline:
            self._wait_or_email(session, job, message)
        _record(session, job, message, outcome)
        if job.state in (JobState.DONE, JobState.DEAD):
            outbox.wake(session, JobKind.SIP, job.target, oldest_only=True)
        elif (
            isinstance(outcome, outbox.Wait)
            and not offline
            and not outbox.unfinished_ahead(session, JobKind.SIP, job.target, job.id)
        ):
            # The older text finished while this job was deciding to wait for it.
            job.state, job.next_run_at = JobState.PENDING, utcnow()

    def _wait_or_email(self, session: Session, job: Job, message: Message) -> None:
        """An offline extension: after ``waiting_email_after`` the text goes to the number's email instead."""
        if self._waiting_email_after is None or not message.our_number:
            return
        number = session.scalars(
            select(MessagingNumber).where(MessagingNumber.e164 == message.our_number)
        ).one_or_none()
        if number is None or not number.email:
            return
        created = message.created_at
        # SQLite hands back a value written in this process's identity map without its zone.
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        deadline = created + timedelta(seconds=self._waiting_email_after)
        if utcnow() < deadline:
            # Stay parked, but come back at the deadline even if the extension never registers.
            job.state, job.next_run_at = JobState.PENDING, deadline
            return
        # Inbound texts already got their email copies; anything else (e.g. a colleague's text) gets one now.
        copied = set(session.scalars(select(Job.target).where(Job.message_id == message.id, Job.kind == JobKind.EMAIL)))
        for address in filter(None, (part.strip() for part in number.email.split(","))):
            if address not in copied:
                outbox.enqueue(session, JobKind.EMAIL, message, address, max_attempts=job.max_attempts)
        job.state, job.status = JobState.DONE, MessageStatus.UNDELIVERED
        job.last_error = f"no device registered within {self._waiting_email_after:g}s: sent to email instead"
        session.add(
            MessageEvent(
                message=message,
                kind="email_fallback",
                status=MessageStatus.QUEUED,
                detail=f"{job.target}: {job.last_error} ({number.email})",
            )
        )


def is_bounce(message: Message, target: str) -> bool:
    """Whether a SIP job for ``message`` to ``target`` is the notice back to the phone whose text failed."""
    return (
        message.origin is Origin.SIP
        and message.direction is Direction.OUTBOUND
        and message.status is MessageStatus.FAILED
        and message.extension is not None
        and message.extension.address == target
    )


def bounce_notice(message: Message) -> str:
    """The short text a phone gets when its text to the outside world could not be sent."""
    return f"Not sent: {message.error_text or 'it could not be delivered'}"


def _device(row: SipRegistration) -> DeviceContact:
    return DeviceContact(
        user=row.user,
        domain=row.domain,
        contact=row.contact,
        profile=row.profile or "internal",
        call_id=row.call_id,
        user_agent=row.user_agent,
        network_ip=row.network_ip,
    )


def _registered(session: Session, target: str) -> bool:
    """Whether the extension ``user@domain`` has a registered device now."""
    user, _, domain = target.partition("@")
    found = select(SipRegistration.id).where(SipRegistration.user == user, SipRegistration.domain == domain)
    return session.scalars(found.limit(1)).first() is not None


def _accepted_somewhere(session: Session, job: Job) -> bool:
    """Whether any device accepted any part of the job's text."""
    return (
        session.scalars(
            select(SipDeviceDelivery.id)
            .where(SipDeviceDelivery.job_id == job.id, SipDeviceDelivery.status == "sent")
            .limit(1)
        ).first()
        is not None
    )


def _outcome(
    target: str,
    results: list[_DeviceResult],
    settled: dict[tuple[str, str, int], str],
) -> outbox.Outcome:
    """Done when every device settled and one accepted; retry while any may still accept; else failed."""
    summary = "; ".join(f"{r.device.contact} part {r.part}: {r.status}" for r in results)
    if any(r.status not in _SETTLED for r in results):
        return outbox.Retry(f"{target}: {summary}")
    accepted = any(r.status == "sent" for r in results) or "sent" in settled.values()
    if accepted:
        return outbox.Done(MessageStatus.SENT, detail=f"phones accepted: {summary or 'already delivered'}")
    return outbox.Fail(f"no device accepted the text: {summary}")


def _record(session: Session, job: Job, message: Message, outcome: outbox.Outcome) -> None:
    """Add the job's outcome to the message's audit log and move the message's status."""
    if job.state is JobState.DONE and job.status is MessageStatus.UNDELIVERED:
        return  # handed over to email; recorded by the fallback
    if is_bounce(message, job.target):
        detail = outcome.detail if isinstance(outcome, outbox.Done) else job.last_error
        session.add(MessageEvent(message=message, kind="bounce", detail=f"notice to {job.target}: {detail}"))
        return
    if isinstance(outcome, outbox.Done):
        detail, status = outcome.detail or outcome.status.value, outcome.status
        if message.status not in _FINAL:
            message.status = outcome.status
    elif job.state is JobState.DEAD and _accepted_somewhere(session, job):
        # Out of attempts for some devices, but others have the text: it was sent.
        detail, status = f"sent to some devices only; {job.last_error}", MessageStatus.SENT
        if message.status not in _FINAL:
            message.status = MessageStatus.SENT
    elif job.state is JobState.DEAD:
        detail, status = job.last_error or "failed", job.status
        message.status, message.error_text = job.status, detail
    else:
        status = None
        waiting = isinstance(outcome, outbox.Wait)
        detail = f"{'waiting' if waiting else 'will retry'}: {job.last_error}"
    session.add(MessageEvent(message=message, kind="sip", status=status, detail=f"{job.target}: {detail}"))
