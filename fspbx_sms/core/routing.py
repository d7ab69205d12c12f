"""Routing rules: what a text from a carrier or from a phone becomes (a stored message plus its jobs).

Every function here works inside the caller's session and commits nothing; the caller commits the message
and its jobs together (DESIGN §1), then wakes the workers.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from fspbx_sms.carriers import InboundMessage, StatusUpdate
from fspbx_sms.core import outbox
from fspbx_sms.core.keywords import Keyword, keyword_of
from fspbx_sms.core.media import MediaError, MediaLibrary
from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.core.numbers import InvalidNumber, from_carrier, looks_like_phone_number, to_e164
from fspbx_sms.core.optouts import apply_keyword, is_opted_out
from fspbx_sms.core.segments import count_segments
from fspbx_sms.esl import PhoneText
from fspbx_sms.esl.bodies import Attachment, parse_body
from fspbx_sms.models import (
    CarrierAccount,
    Direction,
    Domain,
    EarlyStatus,
    Extension,
    JobKind,
    Media,
    Message,
    MessageEvent,
    MessageStatus,
    MessagingNumber,
    NumberPurpose,
    Origin,
)

log = logging.getLogger(__name__)

#: Status updates may only move a message forward; a late "sent" must not undo "delivered".
_STATUS_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
}


@dataclass(frozen=True)
class RoutingPolicy:
    """The settings routing needs."""

    max_attempts: int
    default_region: str
    #: The automatic answer to a HELP text; empty = none.
    help_reply: str = ""
    #: Voicemail SMS text for domains without their own template.
    voicemail_template: str = "New voicemail for {mailbox} from {caller_name} {caller_number}."
    #: Whether a transcription command is configured (voicemail notices then wait for their transcript).
    transcribe_voicemail: bool = False


def _remote_key(numbers: list[str]) -> str:
    return ",".join(sorted(numbers))


def _fail(message: Message, error: str) -> None:
    """Mark a message failed with a reason, log it, and add it to the audit log."""
    log.error("message not routed: %s", error)
    message.status = MessageStatus.FAILED
    message.error_text = error
    message.events.append(MessageEvent(kind="routing", status=MessageStatus.FAILED, detail=error))


def store_carrier_events(
    session: Session,
    account: CarrierAccount,
    events: list[InboundMessage | StatusUpdate],
    policy: RoutingPolicy,
) -> int:
    """Store what one webhook carried; return how many new jobs were queued. Repeated webhooks add nothing."""
    queued = 0
    for event in events:
        if isinstance(event, InboundMessage):
            queued += _store_inbound(session, account, event, policy)
        else:
            _apply_status(session, account, event)
    return queued


def _store_inbound(
    session: Session, account: CarrierAccount, event: InboundMessage, policy: RoutingPolicy
) -> int:
    duplicate = session.scalars(
        select(Message.id).where(
            Message.carrier_account_id == account.id, Message.carrier_message_id == event.carrier_message_id
        )
    ).first()
    if duplicate is not None:
        log.info("carrier message %s already stored as message %s", event.carrier_message_id, duplicate)
        return 0
    to_numbers = [from_carrier(n, policy.default_region) for n in event.to_numbers]
    number = session.scalars(
        select(MessagingNumber)
        .where(MessagingNumber.e164.in_(to_numbers), MessagingNumber.enabled)
        # The extension and its domain are needed for every delivery: one query instead of three.
        .options(joinedload(MessagingNumber.extension).joinedload(Extension.domain))
        .limit(1)
    ).first()
    our_number = number.e164 if number else (to_numbers[0] if to_numbers else "")
    others = [n for n in to_numbers if n != our_number]
    remote = [from_carrier(event.from_number, policy.default_region), *others]
    message = Message(
        domain_id=number.domain_id if number else account.domain_id,
        direction=Direction.INBOUND,
        origin=Origin.CARRIER,
        our_number=our_number,
        remote_numbers=remote,
        remote_numbers_key=_remote_key(remote),
        body=event.text,
        segments=count_segments(event.text).segments,
        carrier_account_id=account.id,
        carrier_message_id=event.carrier_message_id,
        media=[Media(original_url=m.url, content_type=m.content_type or "") for m in event.media],
        events=[MessageEvent(kind="webhook", status=MessageStatus.QUEUED, detail="received", raw=event.raw)],
    )
    session.add(message)
    if number is None:
        _fail(message, f"{our_number or 'no number'} is not configured for carrier account {account.name!r}")
        return 0
    queued = 0
    keyword = keyword_of(event.text)
    if keyword is not None:
        apply_keyword(session, keyword, number.e164, remote[0])
        if keyword is Keyword.HELP and policy.help_reply:
            queued += _auto_reply(session, number, remote[0], policy.help_reply, policy)
    if message.media:
        outbox.enqueue(session, JobKind.MEDIA, message, str(len(message.media)), max_attempts=policy.max_attempts)
        queued += 1
    for address in filter(None, (part.strip() for part in number.email.split(","))):
        outbox.enqueue(session, JobKind.EMAIL, message, address, max_attempts=policy.max_attempts)
        queued += 1
    if number.purpose is NumberPurpose.USER and number.extension is not None:
        message.extension_id = number.extension_id
        queued += _to_extension(session, message, number.extension, policy)
    elif not number.email:
        _fail(message, f"{number.e164} has no destination extension or email")
    return queued


def _to_extension(session: Session, message: Message, extension: Extension, policy: RoutingPolicy) -> int:
    """Queue delivery to the extension's SIP devices, and to its mobile app when it has a push URL."""
    outbox.enqueue_in_order(session, JobKind.SIP, message, extension.address, max_attempts=policy.max_attempts)
    if not extension.push_url:
        return 1
    outbox.enqueue(session, JobKind.NOTIFY, message, extension.address, max_attempts=policy.max_attempts)
    return 2


def _auto_reply(session: Session, number: MessagingNumber, remote: str, text: str, policy: RoutingPolicy) -> int:
    """Queue an automatic text (the HELP answer) from ``number`` to ``remote``."""
    reply = Message(
        domain_id=number.domain_id,
        extension_id=number.extension_id,
        direction=Direction.OUTBOUND,
        origin=Origin.AUTO,
        our_number=number.e164,
        remote_numbers=[remote],
        remote_numbers_key=remote,
        body=text,
        segments=count_segments(text).segments,
        carrier_account_id=number.carrier_account_id,
        read=True,
    )
    session.add(reply)
    outbox.enqueue(session, JobKind.CARRIER, reply, remote, max_attempts=policy.max_attempts)
    return 1


def _apply_status(session: Session, account: CarrierAccount, update: StatusUpdate) -> None:
    message = session.scalars(
        select(Message).where(
            Message.carrier_account_id == account.id, Message.carrier_message_id == update.carrier_message_id
        )
    ).one_or_none()
    if message is None:
        # The carrier can report on a send before its answer (with this id) is recorded: keep it until then.
        log.info("status %s for carrier message %s kept until that send is recorded", update.status,
                 update.carrier_message_id)
        session.add(
            EarlyStatus(
                carrier_account_id=account.id,
                carrier_message_id=update.carrier_message_id,
                status=update.status.value,
                error_code=update.error_code,
                error_text=update.error_text,
                raw=update.raw,
            )
        )
        return
    _record_status(message, MessageStatus(update.status.value), update.error_code, update.error_text, update.raw)


def apply_early_statuses(session: Session, message: Message) -> None:
    """Apply (then forget) the status callbacks that came for ``message`` before its send was recorded."""
    early = session.scalars(
        select(EarlyStatus)
        .where(
            EarlyStatus.carrier_account_id == message.carrier_account_id,
            EarlyStatus.carrier_message_id == message.carrier_message_id,
        )
        .order_by(EarlyStatus.id)
    ).all()
    for row in early:
        _record_status(message, MessageStatus(row.status), row.error_code, row.error_text, row.raw)
        session.delete(row)


def _record_status(
    message: Message, status: MessageStatus, error_code: str | None, error_text: str | None, raw: dict | None
) -> None:
    """Log a carrier status on the message; move its status only forward."""
    message.events.append(MessageEvent(kind="status", status=status, detail=error_text or "", raw=raw))
    if _STATUS_RANK[status] >= _STATUS_RANK[message.status] and message.status != status:
        message.status = status
        if error_code or error_text:
            message.error_code, message.error_text = error_code, error_text


def store_phone_text(
    session: Session, text: PhoneText, policy: RoutingPolicy, media: MediaLibrary | None = None
) -> Message | None:
    """Store a text a SIP phone sent, with the job that carries it on; None if this event was seen before.

    A multipart or CPIM body becomes the text plus media (pictures are stored when ``media`` is given).
    A text to the outside world that cannot go out is failed, and the phone gets a notice saying why.
    """
    if (
        session.scalars(select(Message.id).where(Message.esl_event_key == text.dedupe_key)).first()
        is not None
    ):
        return None
    sender = session.scalars(
        select(Extension)
        .join(Domain)
        .where(Domain.name == text.from_host.lower(), Extension.number == text.from_user)
    ).one_or_none()
    content = parse_body(text.content_type, text.body)
    message = Message(
        domain_id=sender.domain_id if sender else None,
        extension_id=sender.id if sender else None,
        direction=Direction.OUTBOUND,
        origin=Origin.SIP,
        body=content.text,
        segments=count_segments(content.text).segments,
        esl_event_key=text.dedupe_key,
        media=[_phone_media(item, media) for item in content.attachments],
        events=[
            MessageEvent(
                kind="sip",
                status=MessageStatus.QUEUED,
                detail="phone text received",
                raw={"headers": text.headers},
            )
        ],
    )
    session.add(message)
    if any(item.original_url and not item.storage_key for item in message.media):
        outbox.enqueue(session, JobKind.MEDIA, message, str(len(message.media)), max_attempts=policy.max_attempts)
    _route_phone_text(session, message, sender, text, policy)
    return message


def _phone_media(attachment: Attachment, media: MediaLibrary | None) -> Media:
    """A media row for a part of a phone's message; the file is kept when it is a picture we can send."""
    row = Media(
        content_type=attachment.content_type,
        size=len(attachment.data),
        sha256=hashlib.sha256(attachment.data).hexdigest(),
    )
    if media is not None:
        try:
            row.storage_key = media.store(attachment.data, attachment.content_type).storage_key
        except MediaError as err:
            log.warning("attachment of a phone text not stored: %s", err)
        except MediaStoreError as err:
            # Keep the bytes with the message; its media job stores them once the store is back.
            log.warning("attachment of a phone text kept for later: %s", err)
            encoded = base64.b64encode(attachment.data).decode("ascii")
            row.original_url = f"data:{attachment.content_type};base64,{encoded}"
    return row


def _route_phone_text(
    session: Session, message: Message, sender: Extension | None, text: PhoneText, policy: RoutingPolicy
) -> None:
    """Queue the phone text to another extension or to the carrier; fail it (with a notice) otherwise."""
    sender_address = f"{text.from_user}@{text.from_host}"
    message.remote_numbers = [text.to_user]
    message.remote_numbers_key = text.to_user
    if sender is None:
        _fail(message, f"extension {sender_address} is not set up for messaging")
        return
    recipient = session.scalars(
        select(Extension).where(Extension.domain_id == sender.domain_id, Extension.number == text.to_user)
    ).one_or_none()
    if recipient is not None:
        _to_extension(session, message, recipient, policy)
        return
    if not looks_like_phone_number(text.to_user):
        _fail(message, f"{text.to_user!r} is neither an extension of {sender.domain.name} nor a phone number")
        _bounce(session, message, sender, policy)
        return
    try:
        remote = to_e164(text.to_user, policy.default_region)
    except InvalidNumber as err:
        _fail(message, str(err))
        _bounce(session, message, sender, policy)
        return
    message.remote_numbers = [remote]
    message.remote_numbers_key = remote
    number = _sending_number(session, sender, remote)
    if number is None:
        _fail(message, f"extension {sender_address} has no messaging number to send from")
        _bounce(session, message, sender, policy)
        return
    if is_opted_out(session, number.e164, remote):
        message.our_number = number.e164
        _fail(message, f"{remote} has opted out of texts from {number.e164} (they texted STOP)")
        _bounce(session, message, sender, policy)
        return
    message.our_number = number.e164
    message.carrier_account_id = number.carrier_account_id
    outbox.enqueue(session, JobKind.CARRIER, message, remote, max_attempts=policy.max_attempts)


def _sending_number(session: Session, sender: Extension, remote: str) -> MessagingNumber | None:
    """The number the remote party last texted this extension at, else the extension's first number."""
    numbers = list(session.scalars(
        select(MessagingNumber)
        .where(
            MessagingNumber.extension_id == sender.id,
            MessagingNumber.enabled,
            MessagingNumber.purpose == NumberPurpose.USER,
        )
        .order_by(MessagingNumber.id)
    ))
    if len(numbers) > 1:
        last = session.scalars(
            select(Message.our_number)
            .where(
                Message.direction == Direction.INBOUND,
                Message.remote_numbers_key == remote,
                Message.our_number.in_([n.e164 for n in numbers]),
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
        ).first()
        numbers.sort(key=lambda n: n.e164 != last)
    return numbers[0] if numbers else None


def _bounce(session: Session, failed: Message, sender: Extension, policy: RoutingPolicy) -> None:
    """Tell the phone that sent ``failed`` why it did not go out: a SIP job back to the sender's own
    extension for the failed message carries the notice (see ``sip_delivery``)."""
    outbox.enqueue_in_order(session, JobKind.SIP, failed, sender.address, max_attempts=policy.max_attempts)
