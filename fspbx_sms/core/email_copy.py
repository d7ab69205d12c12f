"""Read-only email copies of inbound texts: one job per address, sent over SMTP, retried when SMTP fails."""

from __future__ import annotations

import html
import logging
import mimetypes
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_fetch import media_pending
from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.db import session_scope
from fspbx_sms.models import Job, JobState, Message, MessageEvent, MessageStatus

log = logging.getLogger(__name__)

#: SMTP answers that will not change on a retry (mailbox unknown, relaying denied, ...).
_PERMANENT = range(500, 600)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how email copies are sent."""

    host: str
    port: int = 25
    #: ``none``, ``starttls`` or ``tls`` (implicit TLS, usually port 465).
    security: str = "starttls"
    username: str = ""
    password: str = ""
    sender: str = "fspbx-sms@localhost"
    timeout: float = 30.0


@dataclass(frozen=True)
class Attachment:
    """A stored picture (or other file) of the text, to attach to its copy."""

    filename: str
    content_type: str
    data: bytes


def build_email(
    message: Message, to_address: str, sender: str, conversation_url: str, attachments: list[Attachment] = ()
) -> EmailMessage:
    """The copy of one inbound text: who texted which number and when, the text, its pictures (inline and
    attached), and where to answer."""
    texter = ", ".join(message.remote_numbers) or "unknown number"
    received = message.created_at.strftime("%Y-%m-%d %H:%M UTC")
    email = EmailMessage()
    email["Subject"] = f"Text from {texter} to {message.our_number}"
    email["From"] = sender
    email["To"] = to_address
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    lines = [
        f"{texter} texted {message.our_number} on {received}:",
        "",
        message.body or "(no text)",
        "",
    ]
    if len(attachments) < len(message.media):
        lines += [f"{len(message.media)} attachment(s) came with this text; open the conversation to see them.", ""]
    lines += [
        f"Open the conversation: {conversation_url}",
        "",
        "This is a read-only copy: replies to this email are not sent as texts.",
    ]
    email.set_content("\n".join(lines))
    pictures = [(a, make_msgid()) for a in attachments if a.content_type.startswith("image/")]
    if pictures:
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" if line else "" for line in lines)
        images = "".join(f'<p><img src="cid:{cid[1:-1]}" alt="{html.escape(a.filename)}"></p>' for a, cid in pictures)
        email.add_alternative(f"<html><body>{paragraphs}{images}</body></html>", subtype="html")
        html_part = email.get_payload()[1]
        for attachment, cid in pictures:
            maintype, _, subtype = attachment.content_type.partition("/")
            html_part.add_related(attachment.data, maintype, subtype, cid=cid, filename=attachment.filename)
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        email.add_attachment(attachment.data, maintype, subtype or "octet-stream", filename=attachment.filename)
    return email


class EmailCopy:
    """Job handler for ``email`` jobs: the job's target is the address, its message the text to copy."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        smtp: SmtpSettings | None,
        base_url: str,
        media: MediaLibrary | None = None,
    ):
        self._sessions = sessions
        self._smtp = smtp
        self._base_url = base_url.rstrip("/")
        self._media = media

    def run(self, job: Job) -> outbox.Outcome:
        """Send the copy; SMTP outages and 4xx answers are retried, 5xx answers fail for good."""
        if self._smtp is None:
            return outbox.Fail("email copies need an SMTP server: set FSPBX_SMS_SMTP_HOST")
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            if media_pending(session, message.id) and job.attempts < job.max_attempts - 1:
                return outbox.Retry("waiting for the pictures to be downloaded", retry_after=2.0)
            try:
                attachments = self._attachments(message)
            except MediaStoreError as err:
                return outbox.Retry(str(err))
            email = build_email(
                message,
                job.target,
                self._smtp.sender,
                f"{self._base_url}/conversations/{message.our_number}/{message.remote_numbers_key}",
                attachments,
            )
        try:
            _send(self._smtp, email)
        except smtplib.SMTPRecipientsRefused as err:
            code, reason = next(iter(err.recipients.values()))
            return self._refused(code, reason)
        except smtplib.SMTPResponseException as err:
            return self._refused(err.smtp_code, err.smtp_error)
        except (smtplib.SMTPException, OSError) as err:
            return outbox.Retry(f"SMTP server {self._smtp.host}:{self._smtp.port} unreachable: {err}")
        return outbox.Done(MessageStatus.SENT, detail="email copy sent")

    def _attachments(self, message: Message) -> list[Attachment]:
        """The text's media already stored (pictures still downloading are linked, not attached)."""
        found = []
        for number, item in enumerate(message.media, start=1):
            if self._media is None or not item.storage_key:
                continue
            data = self._media.read(item.storage_key)
            if data is not None:
                extension = mimetypes.guess_extension(item.content_type) or ""
                found.append(Attachment(f"attachment-{number}{extension}", item.content_type, data))
        return found

    def _refused(self, code: int, reason: bytes | str) -> outbox.Outcome:
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        error = f"SMTP {code} {text}"
        return outbox.Fail(error, code=str(code)) if code in _PERMANENT else outbox.Retry(error)

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Record the copy's outcome on the message (the message's own status is not the email's)."""
        if isinstance(outcome, outbox.Done):
            status, detail = MessageStatus.SENT, "email copy sent"
        elif job.state is JobState.DEAD:
            status, detail = MessageStatus.FAILED, f"email copy failed: {job.last_error}"
            log.error("email copy of message %s to %s failed: %s", job.message_id, job.target, job.last_error)
        else:
            status, detail = None, f"email copy will retry: {job.last_error}"
        session.add(
            MessageEvent(message_id=job.message_id, kind="email", status=status, detail=f"{job.target}: {detail}")
        )


def _send(smtp: SmtpSettings, email: EmailMessage) -> None:
    """Deliver one email to the SMTP server, with TLS and login as configured."""
    context = ssl.create_default_context()
    if smtp.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password)
        client.send_message(email)
