"""Texts written in the dashboard or sent through the API: the outbound message plus its carrier job.

Like :mod:`fspbx_sms.core.routing`, this works inside the caller's session and commits nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fspbx_sms.core import outbox
from fspbx_sms.core.media import StoredMedia
from fspbx_sms.core.numbers import to_e164
from fspbx_sms.core.optouts import is_opted_out
from fspbx_sms.core.routing import RoutingPolicy
from fspbx_sms.core.segments import count_segments
from fspbx_sms.models import (
    Direction,
    Job,
    JobKind,
    JobState,
    Media,
    Message,
    MessageEvent,
    MessageStatus,
    MessagingNumber,
    NumberPurpose,
    Origin,
    utcnow,
)


class ComposeError(ValueError):
    """A text that cannot be sent as asked; the message says why."""


def compose(
    session: Session,
    *,
    number: MessagingNumber,
    to: str,
    body: str,
    media: list[StoredMedia],
    origin: Origin,
    policy: RoutingPolicy,
    author: str,
) -> Message:
    """Queue a text from our ``number`` to ``to`` (any dialable form) with optional pictures."""
    if not number.enabled:
        raise ComposeError(f"{number.e164} is disabled")
    if not body.strip() and not media:
        raise ComposeError("write a text or attach a picture")
    # Several numbers (comma separated, as a group conversation is keyed) make one group MMS to all of them.
    remotes = list(dict.fromkeys(to_e164(part, policy.default_region) for part in to.split(",") if part.strip()))
    if not remotes:
        raise ComposeError("say who the text is for")
    for remote in remotes:
        if is_opted_out(session, number.e164, remote):
            raise ComposeError(f"{remote} has opted out of texts from {number.e164} (they texted STOP)")
    key = ",".join(sorted(remotes))
    message = Message(
        domain_id=number.domain_id,
        extension_id=number.extension_id,
        direction=Direction.OUTBOUND,
        origin=origin,
        our_number=number.e164,
        remote_numbers=remotes,
        remote_numbers_key=key,
        body=body,
        segments=count_segments(body).segments,
        carrier_account_id=number.carrier_account_id,
        read=True,
        media=[
            Media(content_type=item.content_type, size=item.size, sha256=item.sha256, storage_key=item.storage_key)
            for item in media
        ],
        events=[MessageEvent(kind=origin.value, status=MessageStatus.QUEUED, detail=f"written by {author}")],
    )
    session.add(message)
    outbox.enqueue(session, JobKind.CARRIER, message, key, max_attempts=policy.max_attempts)
    return message


def sending_numbers(session: Session, query) -> list[MessagingNumber]:
    """The enabled person-to-person numbers among those ``query`` (a scoped select) finds."""
    query = query.where(MessagingNumber.enabled, MessagingNumber.purpose == NumberPurpose.USER)
    return list(session.scalars(query.order_by(MessagingNumber.e164)))


def retry(session: Session, message: Message, author: str) -> int:
    """Make a failed message's dead jobs due again with fresh attempts; return how many were revived."""
    if message.status not in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
        raise ComposeError(f"only failed messages can be retried; this one is {message.status.value}")
    dead = session.scalars(select(Job).where(Job.message_id == message.id, Job.state == JobState.DEAD)).all()
    if not dead:
        raise ComposeError("this message has no failed delivery to retry")
    now = utcnow()
    for job in dead:
        job.state, job.status, job.attempts, job.next_run_at = JobState.PENDING, MessageStatus.QUEUED, 0, now
    message.status = MessageStatus.QUEUED
    message.error_code = message.error_text = None
    message.events.append(MessageEvent(kind="retry", status=MessageStatus.QUEUED, detail=f"retried by {author}"))
    return len(dead)
