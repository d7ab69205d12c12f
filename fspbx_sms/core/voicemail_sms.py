"""Voicemail SMS: a text from the domain's system notification number to the mailbox owner's mobile."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from fspbx_sms.core import outbox
from fspbx_sms.core.numbers import InvalidNumber, to_e164
from fspbx_sms.core.optouts import is_opted_out
from fspbx_sms.core.routing import RoutingPolicy
from fspbx_sms.core.segments import count_segments
from fspbx_sms.models import (
    Direction,
    Domain,
    Extension,
    JobKind,
    Message,
    MessageEvent,
    MessagingNumber,
    NumberPurpose,
    Origin,
    VoicemailEvent,
)

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, event: VoicemailEvent) -> str:
    """Fill the template's known placeholders; anything else in braces is left as written."""
    values = {
        "caller_name": event.caller_id_name or "Unknown caller",
        "caller_number": event.caller_id_number or "",
        "mailbox": event.user,
        "duration": str(event.message_len),
        "time": event.left_at.strftime("%Y-%m-%d %H:%M UTC"),
    }
    return " ".join(_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template).split())


def queue_voicemail_notice(session: Session, event: VoicemailEvent, policy: RoutingPolicy) -> Message | None:
    """Queue the notice for ``event`` if its extension wants one; mark the event handled either way."""
    event.handled = True
    extension = session.scalars(
        select(Extension).join(Domain).where(Domain.name == event.domain.lower(), Extension.number == event.user)
    ).one_or_none()
    if extension is None or not extension.voicemail_sms or not extension.mobile_number:
        return None
    number = session.scalars(
        select(MessagingNumber)
        .where(
            MessagingNumber.domain_id == extension.domain_id,
            MessagingNumber.purpose == NumberPurpose.SYSTEM_NOTIFICATION,
            MessagingNumber.enabled,
        )
        .order_by(MessagingNumber.id)
    ).first()
    if number is None:
        log.error(
            "voicemail SMS for %s: domain %s has no system notification number",
            extension.address,
            extension.domain.name,
        )
        return None
    try:
        mobile = to_e164(extension.mobile_number, policy.default_region)
    except InvalidNumber as err:
        log.error("voicemail SMS for %s: %s", extension.address, err)
        return None
    if is_opted_out(session, number.e164, mobile):
        log.info("voicemail SMS for %s not sent: %s opted out", extension.address, mobile)
        return None
    body = render(extension.domain.voicemail_sms_template or policy.voicemail_template, event)
    message = Message(
        domain_id=extension.domain_id,
        extension_id=extension.id,
        direction=Direction.OUTBOUND,
        origin=Origin.VOICEMAIL,
        our_number=number.e164,
        remote_numbers=[mobile],
        remote_numbers_key=mobile,
        body=body,
        segments=count_segments(body).segments,
        carrier_account_id=number.carrier_account_id,
        read=True,
        events=[MessageEvent(kind="voicemail", detail=f"voicemail {event.vm_uuid} for {extension.address}")],
    )
    session.add(message)
    if policy.transcribe_voicemail and event.file_path:
        # The notice waits for its transcript (see core/transcription.py), then goes out with or without it.
        outbox.enqueue(session, JobKind.TRANSCRIBE, message, event.file_path, max_attempts=3)
    else:
        outbox.enqueue(session, JobKind.CARRIER, message, mobile, max_attempts=policy.max_attempts)
    return message
