"""Texts phones send, through the bridge: stored once, multipart bodies, extension to extension through
store and forward, to the carrier from the extension's number, bounce-back notices, odd bytes; and voicemail
events. Over real TCP against the ESL simulator, on the test's real database."""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest
from sqlalchemy import select

from fspbx_sms.models import Direction, Job, JobKind, JobState, Media, MessageStatus, VoicemailEvent
from tests.bridge_support import Bridge, wait_until

MULTIPART = (
    b"--b1\r\nContent-Type: text/plain\r\n\r\nSee picture\r\n"
    b"--b1\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgH\r\n--b1--\r\n"
)


@pytest.fixture
def bridge(esl, database_url) -> Iterator[Bridge]:
    """The bridge on the ``esl`` simulator, with extensions 1001 and 1002 (numbers) and 1003 (none)."""
    started = Bridge(database_url, {"fs1": esl}).start()
    started.provision("1001", "1002", "1003", without_number=("1003",))
    yield started
    started.stop()


def test_one_message_per_phone_text_copies_and_composing_ignored(esl, bridge):
    """The chatplan fires copies and FreeSWITCH echoes the routed event: stored once; isComposing: nothing."""
    esl.phone_message("1001", "+15557654321", "<isComposing/>", content_type="application/im-iscomposing+xml")
    esl.phone_message("1001", "+15557654321", "hello out there", fire_copies=2)
    wait_until(lambda: len(bridge.messages()) == 1)
    gevent.sleep(0.3)
    [message] = bridge.messages()
    assert (message.body, message.our_number, message.remote_numbers) == (
        "hello out there",
        "+15550001001",
        ["+15557654321"],
    )
    assert [(job.kind, job.target) for job in bridge.jobs()] == [(JobKind.CARRIER, "+15557654321")]


def test_multipart_body_from_a_softphone_becomes_text_and_media(esl, bridge):
    """``multipart/mixed`` (FreeSWITCH drops the boundary parameter): the text part is the body, the
    picture becomes a media row."""
    esl.phone_message("1001", "+15557654321", MULTIPART, content_type="multipart/mixed; boundary=b1")
    wait_until(lambda: len(bridge.messages()) == 1)
    [message] = bridge.messages()
    assert message.body == "See picture"
    with bridge.session() as session:
        [media] = session.scalars(select(Media)).all()
    assert (media.message_id, media.content_type, media.size) == (message.id, "image/jpeg", 33)


def test_cpim_body_is_unwrapped(esl, bridge):
    """A CPIM-wrapped text (RFC 3862) is stored as its content."""
    cpim = (
        "From: <sip:1001@pbx.test>\r\nTo: <sip:1002@pbx.test>\r\nDateTime: 2026-11-27T08:00:00Z\r\n\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n\r\nwrapped hello\r\n"
    )
    esl.phone_message("1001", "1002", cpim, content_type="message/cpim")
    wait_until(lambda: len(bridge.messages()) == 1)
    assert bridge.messages()[0].body == "wrapped hello"


def test_text_to_offline_extension_is_stored_and_delivered_on_registration(esl, bridge):
    """1001 texts 1002, which is offline: logged and waiting; 1002 registers and gets it, from 1001."""
    esl.register("1001")
    esl.phone_message("1001", "1002", "see you at 3")
    wait_until(lambda: [job.state for job in bridge.jobs()] == [JobState.WAITING])
    [message] = bridge.messages()
    assert (message.direction, message.remote_numbers) == (Direction.OUTBOUND, ["1002"])

    contact = esl.register("1002")
    wait_until(lambda: len(esl.deliveries) == 1)
    [delivery] = esl.deliveries
    assert (delivery.contact, delivery.body) == (contact, b"see you at 3")
    assert "sip:1001@pbx.test" in delivery.from_header
    wait_until(lambda: bridge.messages()[0].status == MessageStatus.SENT)


def test_bounce_back_when_the_extension_has_no_number(esl, bridge):
    """1003 has no number to text from: its text fails, and 1003's phone gets a short notice saying why,
    from the number it tried to text."""
    contact = esl.register("1003")
    esl.phone_message("1003", "+15557654321", "will this go out?")
    wait_until(lambda: len(esl.deliveries) == 1)
    [notice] = esl.deliveries
    assert notice.contact == contact
    assert notice.body == b"Not sent: extension 1003@pbx.test has no messaging number to send from"
    assert "+15557654321" in notice.from_header
    [message] = bridge.messages()
    assert message.status == MessageStatus.FAILED
    wait_until(lambda: bridge.jobs()[0].state == JobState.DONE)
    assert message.error_text == "extension 1003@pbx.test has no messaging number to send from"


def test_non_utf8_body_is_stored_and_later_events_still_processed(esl, bridge):
    """A Latin-1 body from an old phone does not stop event processing: it is stored, and so is the next."""
    esl.phone_message("1001", "+15557654321", b"caf\xe9 cr\xe8me")
    esl.phone_message("1001", "+15557654321", "next one")
    wait_until(lambda: len(bridge.messages()) == 2)
    first, second = bridge.messages()
    assert first.body == "café crème"
    assert second.body == "next one"


def test_voicemail_left_is_stored_as_an_event(esl, bridge):
    """``vm::maintenance`` ``leave-message`` → one voicemail event row, with the node, seen by the engine (this
    extension wants no voicemail SMS, so nothing is queued; the SMS itself is in test_engine_e2e)."""
    esl.voicemail_left("1001", caller_id_name="Alice", caller_id_number="+15557654321", length_seconds=12)

    def stored() -> list[VoicemailEvent]:
        with bridge.session() as session:
            return list(session.scalars(select(VoicemailEvent)))

    wait_until(stored)
    [event] = stored()
    assert (event.node, event.user, event.domain) == ("fs1", "1001", "pbx.test")
    assert (event.caller_id_name, event.caller_id_number, event.message_len) == ("Alice", "+15557654321", 12)
    assert event.file_path.endswith(".wav")
    assert event.handled
    assert bridge.messages() == []


def test_slow_consumer_kill_reconnects_and_keeps_processing(esl, bridge):
    """FreeSWITCH kills us as a slow consumer: we reconnect, resync, and the next phone text is stored."""
    esl.kill_slow_consumers()
    wait_until(lambda: bridge.clients[0].reconnects == 1 and bridge.clients[0].state == "connected")
    esl.phone_message("1001", "+15557654321", "after the kill")
    wait_until(lambda: len(bridge.messages()) == 1)
    with bridge.session() as session:
        assert session.scalars(select(Job.kind)).all() == [JobKind.CARRIER]
