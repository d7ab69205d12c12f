"""One text each way, end to end: Telnyx webhook → SIP phone, SIP phone → Telnyx, over the real service.

The service runs as ``fspbx-sms run`` in a subprocess; FreeSWITCH is the ESL simulator over TCP; Telnyx is a
real HTTP server on loopback; the database is a real SQLite file or a real PostgreSQL database.
"""

from __future__ import annotations

import json
import time

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from fspbx_sms.models import EarlyStatus, Job, JobState, Message, MessageStatus
from tests.telnyx_account import PAYLOADS, fixture, received

EXTENSION = "1001@pbx.test"
NASTY_TEXT = "Olá, café 😀 — it's \"quoted\" | pipe \\ backslash\nline two\r\n\ttab  'pair' ^^x end "


def _messages(db_engine) -> list[Message]:
    with Session(db_engine) as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def _jobs(db_engine) -> list[Job]:
    with Session(db_engine) as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_documented_inbound_webhook_reaches_the_phone_once(service, telnyx, esl, db_engine):
    """The fixture exactly as Telnyx documents it, for a number routed to 1001 → one SIP MESSAGE, once."""
    body = (PAYLOADS / "message-received-sms.json").read_bytes()
    documented = json.loads(body)["data"]["payload"]
    our_number = documented["to"][0]["phone_number"]
    service.cli("number", "add", our_number, "--carrier", "telnyx-main", "--extension", EXTENSION)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()

    first = telnyx.post(body)
    assert first.status_code == 200, first.text
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
    delivery = esl.deliveries[0]
    assert (delivery.user, delivery.domain) == ("1001", "pbx.test")
    assert delivery.body == documented["text"].encode()
    assert delivery.content_type == "text/plain"
    assert documented["from"]["phone_number"] in delivery.from_header

    again = telnyx.post(body)
    assert again.status_code == 200
    esl.wait_for(lambda: _messages(db_engine)[0].status == MessageStatus.SENT, timeout=10)
    time.sleep(0.5)
    assert len(esl.deliveries) == 1
    assert len(_messages(db_engine)) == 1


def test_forged_stale_and_garbage_webhooks_are_refused_and_store_nothing(service, telnyx, db_engine):
    """Wrong key → 401/403, an old timestamp → 401/403, not JSON → 400; the database stays empty."""
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    body = received("+15550001001", "+15557654321", "hello", "b0f2e5c4-0000-4000-8000-000000000001")

    forged = telnyx.post(body, key=SigningKey.generate())
    stale = telnyx.post(body, timestamp=int(time.time()) - 3600)
    unsigned = telnyx.service.post(telnyx.webhook_path, body, {"Content-Type": "application/json"})
    assert forged.status_code in (401, 403)
    assert stale.status_code in (401, 403)
    assert unsigned.status_code in (401, 403)

    garbage = telnyx.post(b"\xff\xfe not json {")
    assert garbage.status_code == 400
    unknown_account = service.post("/webhooks/telnyx/999", body, {"Content-Type": "application/json"})
    assert unknown_account.status_code == 404
    assert _messages(db_engine) == []
    assert "KEY-test-secret" not in service.log


def test_phone_text_goes_out_through_telnyx_and_a_receipt_marks_it_delivered(service, telnyx, esl, httpserver,
                                                                            db_engine):
    """1001 texts +15557654321 → one POST to Telnyx from 1001's number; the finalized callback → delivered."""
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    sent = []
    response = fixture("send-response.json")
    response["data"]["id"] = "40385f64-5717-4562-b3fc-2c963f66afa6"

    def telnyx_api(request: Request) -> Response:
        sent.append((request.headers.get("Authorization"), request.get_json()))
        return Response(json.dumps(response), status=200, content_type="application/json")

    httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(telnyx_api)
    service.wait_esl_connected()

    esl.phone_message("1001", "+15557654321", NASTY_TEXT.encode())
    esl.wait_for(lambda: len(sent) == 1, timeout=10)
    authorization, payload = sent[0]
    assert authorization == "Bearer KEY-test-secret"
    assert payload["from"] == "+15550001001"
    assert payload["to"] == "+15557654321"
    assert payload["text"] == NASTY_TEXT
    esl.wait_for(lambda: _messages(db_engine)[0].carrier_message_id == response["data"]["id"], timeout=10)
    assert _messages(db_engine)[0].status == MessageStatus.SENT

    receipt = fixture("message-finalized-delivered.json")
    receipt["data"]["payload"]["id"] = response["data"]["id"]
    assert telnyx.post(json.dumps(receipt).encode()).status_code == 200
    assert _messages(db_engine)[0].status == MessageStatus.DELIVERED
    time.sleep(0.5)
    assert len(sent) == 1


def test_a_receipt_that_overtakes_the_send_answer_is_applied_when_the_answer_arrives(
    service, telnyx, esl, httpserver, db_engine
):
    """Telnyx reports the message delivered before answering our send (the webhook races the HTTP answer): the
    receipt is kept, then applied once the send's answer gives the message its id — nothing lost."""
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    response = fixture("send-response.json")
    message_id = response["data"]["id"] = "40385f64-5717-4562-b3fc-2c963f66afa7"
    receipt = fixture("message-finalized-delivered.json")
    receipt["data"]["payload"]["id"] = message_id
    early: list[int] = []

    def telnyx_api(request: Request) -> Response:
        early.append(telnyx.post(json.dumps(receipt).encode()).status_code)
        return Response(json.dumps(response), status=200, content_type="application/json")

    httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(telnyx_api)
    service.wait_esl_connected()
    esl.phone_message("1001", "+15557654321", b"racing the receipt")
    esl.wait_for(lambda: early == [200] and _messages(db_engine)[0].status == MessageStatus.DELIVERED, timeout=10)
    with Session(db_engine) as session:
        [message] = session.scalars(select(Message)).all()
        assert message.carrier_message_id == message_id
        assert [e.status for e in message.events if e.kind == "status"] == [MessageStatus.DELIVERED]
        assert session.scalars(select(EarlyStatus)).all() == []


def test_nasty_text_arrives_byte_exact_on_the_phone(service, telnyx, esl):
    """Emoji, accents, quotes, pipes, backslashes, newlines, tabs and edge spaces survive the chat escaping."""
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    assert telnyx.post(received("+15550001001", "+15557654321", NASTY_TEXT, "id-nasty")).status_code == 200
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
    assert esl.deliveries[0].body == NASTY_TEXT.encode()


def test_unregistered_extension_waits_and_registration_delivers(service, telnyx, esl, db_engine):
    """No device registered: the text waits (nothing sent); a sofia::register for 1001 delivers it."""
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    service.wait_esl_connected()
    assert telnyx.post(received("+15550001001", "+15557654321", "are you there?", "id-wait")).status_code == 200
    esl.wait_for(lambda: [j.state for j in _jobs(db_engine)] == [JobState.WAITING], timeout=10)
    assert esl.deliveries == []

    esl.register("1001", "pbx.test")
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
    assert esl.deliveries[0].body == b"are you there?"
    esl.wait_for(lambda: [j.state for j in _jobs(db_engine)] == [JobState.DONE], timeout=10)


@pytest.mark.parametrize("fault", ["drop_before", "drop_after_execute", "drop_mid_reply"])
def test_connection_dropped_during_delivery_delivers_exactly_once(fault, service, telnyx, esl, db_engine):
    """FreeSWITCH's socket dies while a text is in flight: reconnect, re-subscribe, one delivery — not 0, not 2."""
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    subscriptions_before = len([c for c in esl.commands if c.startswith("event plain")])
    esl.fail_next("bgapi chat", fault)

    assert telnyx.post(received("+15550001001", "+15557654321", "in flight", "id-flight")).status_code == 200
    esl.wait_for(lambda: len([c for c in esl.commands if c.startswith("event plain")]) > subscriptions_before,
                 timeout=10)
    esl.wait_for(lambda: _messages(db_engine)[0].status == MessageStatus.SENT, timeout=20)
    time.sleep(1.0)
    assert [d.body for d in esl.deliveries] == [b"in flight"]


def test_unknown_number_and_extension_without_number_fail_cleanly(service, telnyx, esl, db_engine):
    """A text to a number nobody owns, and a phone text from an extension with no number: stored as failed."""
    service.wait_esl_connected()
    assert telnyx.post(received("+15559990000", "+15557654321", "anyone?", "id-nobody")).status_code == 200
    service.cli("number", "add", "+15550001002", "--carrier", "telnyx-main", "--extension", "1002@pbx.test")
    service.cli("number", "add", "+15550001001", "--carrier", "telnyx-main", "--extension", EXTENSION)
    service.cli("user", "add", "carol", "--role", "user", "--extension", "1003@pbx.test", input="a-long-password\n")
    esl.phone_message("1003", "+15557654321", b"from an extension without a number")
    esl.wait_for(lambda: len(_messages(db_engine)) == 2, timeout=10)
    orphan, no_number = _messages(db_engine)
    assert orphan.status == MessageStatus.FAILED
    assert "+15559990000" in orphan.error_text
    assert no_number.status == MessageStatus.FAILED
    assert no_number.error_text == "extension 1003@pbx.test has no messaging number to send from"
    assert service.health()["status"] == "ok"
