"""Email copies of inbound texts over a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from fspbx_sms.core import outbox
from fspbx_sms.core.email_copy import EmailCopy, SmtpSettings
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_store import LocalMediaStore
from fspbx_sms.db import make_session_factory
from fspbx_sms.models import Direction, JobKind, Media, Message, Origin
from tests.dashboard_world import PNG
from tests.service_process import free_port


class Mailbox:
    """aiosmtpd handler that keeps what it receives, and refuses addresses at refused.example."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    """A real SMTP server on a free loopback port."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


def _inbound_job(db_engine, target: str, media: list[Media] = ()):
    with Session(db_engine, expire_on_commit=False) as session:
        message = Message(direction=Direction.INBOUND, origin=Origin.CARRIER, our_number="+15550001001",
                          remote_numbers=["+15557654321"], remote_numbers_key="+15557654321",
                          body="Is the shop open on Sunday? ☀️", media=list(media))
        job = outbox.enqueue(session, JobKind.EMAIL, message, target, max_attempts=3)
        session.add(message)
        session.commit()
        return message, job


def test_copy_says_who_texted_which_number_and_that_replies_are_not_sent(db_engine, smtp, tmp_path):
    """Subject and body name the texter and our number, carry the text and a link, warn about replies, and
    carry the stored picture inline (HTML part) and as an attachment."""
    controller, mailbox = smtp
    library = MediaLibrary(LocalMediaStore(tmp_path / "media"), b"k" * 32, ttl_seconds=60)
    stored = library.store(PNG, "image/png")
    picture = Media(content_type="image/png", storage_key=stored.storage_key, sha256=stored.sha256)
    _, job = _inbound_job(db_engine, "sales@example.com", [picture])
    handler = EmailCopy(make_session_factory(db_engine),
                        SmtpSettings(controller.hostname, controller.port, security="none", sender="sms@pbx.test"),
                        "https://sms.example.com/", library)
    assert handler.run(job) == outbox.Done(outbox.MessageStatus.SENT, detail="email copy sent")
    [received] = mailbox.received
    assert received["Subject"] == "Text from +15557654321 to +15550001001"
    assert received["To"] == "sales@example.com"
    body = received.get_body(preferencelist=("plain",)).get_content()
    related = next(part for part in received.walk() if part.get_content_type() == "multipart/related")
    inline = next(part for part in related.iter_parts() if part.get_content_type() == "image/png")
    assert inline.get_content() == PNG
    assert inline["Content-ID"].strip("<>") in received.get_body(preferencelist=("html",)).get_content()
    [attached] = list(received.iter_attachments())
    assert (attached.get_content_type(), attached.get_content()) == ("image/png", PNG)
    assert "Is the shop open on Sunday? ☀️" in body
    assert "https://sms.example.com/conversations/+15550001001/+15557654321" in body
    assert "replies to this email are not sent" in body


def test_refused_recipient_fails_for_good_and_an_outage_is_retried(db_engine, smtp):
    """550 → failed with the SMTP code; nothing listening → retry later."""
    controller, _ = smtp
    _, refused_job = _inbound_job(db_engine, "nobody@refused.example")
    sessions = make_session_factory(db_engine)
    refused = EmailCopy(sessions, SmtpSettings(controller.hostname, controller.port, security="none"), "http://x")
    outcome = refused.run(refused_job)
    assert isinstance(outcome, outbox.Fail) and outcome.code == "550"
    _, down_job = _inbound_job(db_engine, "sales@example.com")
    down = EmailCopy(sessions, SmtpSettings("127.0.0.1", free_port(), security="none", timeout=2), "http://x")
    assert isinstance(down.run(down_job), outbox.Retry)
    assert isinstance(EmailCopy(sessions, None, "http://x").run(down_job), outbox.Fail)
