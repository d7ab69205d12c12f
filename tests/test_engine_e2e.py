"""The messaging engine end to end over real parts: opt-outs, HELP, email copies, voicemail SMS, inbound MMS
media, the sending number, segments and retention — through ``fspbx-sms run``, the ESL simulator, a loopback
Telnyx and a real SMTP server."""

from __future__ import annotations

import copy
import email
import email.policy
import hmac
import json
import struct
import sys
import zlib

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from fspbx_sms.core.push import sign
from fspbx_sms.models import Media, Message, MessageStatus, OptOut, Origin
from tests.service_process import ServiceProcess, free_port
from tests.telnyx_account import Telnyx, fixture, received

EXT = "1001@pbx.test"
OURS = "+15550001001"
REMOTE = "+15557654321"


def _png(width: int = 2, height: int = 2) -> bytes:
    """A real, valid PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Carrier:
    """The loopback Telnyx API: records what we send."""

    def __init__(self, httpserver):
        self.sent: list[dict] = []
        httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(self._send)

    def _send(self, request: Request) -> Response:
        self.sent.append(request.get_json())
        body = copy.deepcopy(fixture("send-response.json"))
        body["data"]["id"] = f"sent-{len(self.sent)}"
        return Response(json.dumps(body), content_type="application/json")


def _messages(db_engine) -> list[Message]:
    with Session(db_engine) as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


@pytest.fixture
def carrier(httpserver) -> Carrier:
    """The carrier fake."""
    return Carrier(httpserver)


def test_stop_refuses_sends_until_start_and_help_is_answered(service, telnyx, carrier, esl, db_engine):
    """STOP → the phone's next text is refused with a notice; START → it goes out; HELP → the automatic answer."""
    service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()

    assert telnyx.post(received(OURS, REMOTE, "Stop!", "in-stop")).status_code == 200
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)  # the STOP text itself still reaches the phone
    with Session(db_engine) as session:
        assert [(o.our_number, o.remote_number) for o in session.scalars(select(OptOut))] == [(OURS, REMOTE)]

    esl.phone_message("1001", REMOTE, b"are you coming?")
    esl.wait_for(lambda: len(esl.deliveries) == 2, timeout=10)
    assert esl.deliveries[1].body.startswith(b"Not sent: ")
    assert b"opted out" in esl.deliveries[1].body
    assert carrier.sent == []

    assert telnyx.post(received(OURS, REMOTE, "START", "in-start")).status_code == 200
    esl.wait_for(lambda: len(esl.deliveries) == 3, timeout=10)
    esl.phone_message("1001", REMOTE, b"welcome back")
    esl.wait_for(lambda: len(carrier.sent) == 1, timeout=10)
    assert (carrier.sent[0]["to"], carrier.sent[0]["text"]) == (REMOTE, "welcome back")

    assert telnyx.post(received(OURS, REMOTE, "help", "in-help")).status_code == 200
    esl.wait_for(lambda: len(carrier.sent) == 2, timeout=10)
    assert carrier.sent[1]["to"] == REMOTE
    assert carrier.sent[1]["from"] == OURS
    assert "STOP" in carrier.sent[1]["text"]
    assert [m.origin for m in _messages(db_engine)][-1] == Origin.AUTO


def test_carrier_opt_out_error_marks_the_number_opted_out(service, telnyx, esl, httpserver, db_engine):
    """Telnyx refuses a send with 40300 (the recipient texted STOP to Telnyx): marked opted out, phone told."""
    service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    refusal = json.dumps({"errors": [{"code": "40300", "title": "Blocked due to STOP message"}]})
    httpserver.expect_request("/v2/messages", method="POST").respond_with_data(
        refusal, status=409, content_type="application/json")
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    esl.phone_message("1001", REMOTE, b"hello?")
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
    assert esl.deliveries[0].body.startswith(b"Not sent: ")
    with Session(db_engine) as session:
        assert [(o.remote_number, o.source) for o in session.scalars(select(OptOut))] == [(REMOTE, "carrier")]
    assert _messages(db_engine)[0].status == MessageStatus.FAILED


def test_email_copy_reaches_a_real_smtp_server(service_env, esl, httpserver, tmp_path, db_engine):
    """A number with an email destination: the text reaches the phone and a read-only copy the mailbox."""
    inbox: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
            inbox.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    service = ServiceProcess({**service_env, "FSPBX_SMS_SMTP_HOST": "127.0.0.1",
                              "FSPBX_SMS_SMTP_PORT": str(smtp.port), "FSPBX_SMS_SMTP_SECURITY": "none",
                              "FSPBX_SMS_SMTP_FROM": "sms@pbx.test"}, workdir=tmp_path)
    try:
        service.start()
        telnyx = Telnyx(service, httpserver)
        service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT,
                    "--email", "front-desk@example.com, owner@example.com")
        esl.register("1001", "pbx.test")
        service.wait_esl_connected()
        assert telnyx.post(received(OURS, REMOTE, "Table for four at 8?", "in-mail")).status_code == 200
        esl.wait_for(lambda: len(inbox) == 2 and len(esl.deliveries) == 1, timeout=15)
    finally:
        service.stop()
        smtp.stop()
    assert sorted(m["To"] for m in inbox) == ["front-desk@example.com", "owner@example.com"]
    assert inbox[0]["Subject"] == f"Text from {REMOTE} to {OURS}"
    assert "Table for four at 8?" in inbox[0].get_content()
    assert "not sent as texts" in inbox[0].get_content()


def test_voicemail_sends_an_sms_from_the_system_number_and_nothing_to_phones(service, telnyx, carrier, esl):
    """vm::maintenance leave-message → one SMS notice to the mailbox owner's mobile from the system number."""
    service.cli("number", "add", "+15550009999", "--carrier", "telnyx-main", "--system", "--domain", "pbx.test")
    service.cli("extension", "set", EXT, "--mobile", "+1 555 765 0000", "--voicemail-sms")
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    esl.voicemail_left("1001", caller_id_name="Alice Smith", caller_id_number="5551112222", length_seconds=42)
    esl.wait_for(lambda: len(carrier.sent) == 1, timeout=10)
    notice = carrier.sent[0]
    assert (notice["from"], notice["to"]) == ("+15550009999", "+15557650000")
    assert "Alice Smith" in notice["text"] and "5551112222" in notice["text"] and "42s" in notice["text"]
    service.cli("domain", "set", "pbx.test", "--voicemail-template", "VM {mailbox}: {caller_number} {unknown}")
    esl.voicemail_left("1001", caller_id_name="Bob", caller_id_number="5553334444", length_seconds=5)
    esl.wait_for(lambda: len(carrier.sent) == 2, timeout=10)
    assert carrier.sent[1]["text"] == "VM 1001: 5553334444 {unknown}"
    assert esl.deliveries == []


def test_inbound_mms_media_is_downloaded_sniffed_and_stored_once(service, telnyx, esl, httpserver, db_engine):
    """The picture is fetched from the carrier, typed from its bytes (not the lying header), stored by hash."""
    picture = _png()
    httpserver.expect_request("/media/pic").respond_with_data(picture, content_type="image/jpeg")
    service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    payload = fixture("message-received-mms.json")
    data = payload["data"]["payload"]
    data["to"][0]["phone_number"] = OURS
    data["media"][0]["url"] = httpserver.url_for("/media/pic")
    assert telnyx.post(json.dumps(payload).encode()).status_code == 200
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)

    def stored() -> list[Media]:
        with Session(db_engine) as session:
            return [m for m in session.scalars(select(Media)) if m.storage_key]

    esl.wait_for(lambda: len(stored()) == 1, timeout=10)
    [media] = stored()
    assert (media.content_type, media.size) == ("image/png", len(picture))
    assert (service.workdir / "media" / media.storage_key).read_bytes() == picture


def test_reply_goes_out_from_the_number_the_remote_party_texted(service, telnyx, carrier, esl, db_engine):
    """An extension with two numbers answers from the one the remote party last wrote to."""
    service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    service.cli("number", "add", "+15550001002", "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    assert telnyx.post(received("+15550001002", REMOTE, "hi on your second line", "in-2")).status_code == 200
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
    esl.phone_message("1001", REMOTE, b"answering")
    esl.phone_message("1001", "+15553334444", b"new conversation")
    esl.wait_for(lambda: len(carrier.sent) == 2, timeout=10)
    by_recipient = {sent["to"]: sent["from"] for sent in carrier.sent}
    assert by_recipient == {REMOTE: "+15550001002", "+15553334444": OURS}


def test_segments_are_counted_and_old_messages_purged(service, telnyx, esl, db_engine):
    """161 GSM characters cost two segments; ``fspbx-sms purge`` removes messages past the retention age."""
    service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    service.wait_esl_connected()
    assert telnyx.post(received(OURS, REMOTE, "a" * 161, "in-long")).status_code == 200
    esl.wait_for(lambda: _messages(db_engine) and _messages(db_engine)[0].status == MessageStatus.SENT, timeout=10)
    assert _messages(db_engine)[0].segments == 2
    assert service.cli_json("purge", "--days", "30") == {"purged_messages": 0, "older_than_days": 30}
    with db_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE messages SET created_at = created_at - INTERVAL '40 days'"
                                   if db_engine.dialect.name == "postgresql"
                                   else "UPDATE messages SET created_at = datetime(created_at, '-40 days')")
    assert service.cli_json("purge", "--days", "30") == {"purged_messages": 1, "older_than_days": 30}
    assert _messages(db_engine) == []


def test_mobile_app_push_is_signed_and_retried(service, telnyx, esl, httpserver):
    """An extension with a push URL: the text is POSTed there as JSON, HMAC-signed; a 503 is retried."""
    configured = service.cli_json("extension", "set", EXT, "--push-url", httpserver.url_for("/push"))
    service.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    pushes: list[Request] = []

    def app(request: Request) -> Response:
        pushes.append(request)
        return Response("", status=503 if len(pushes) == 1 else 204)

    httpserver.expect_request("/push", method="POST").respond_with_handler(app)
    service.wait_esl_connected()
    assert telnyx.post(received(OURS, REMOTE, "ping the app", "in-push")).status_code == 200
    esl.wait_for(lambda: len(pushes) == 2, timeout=15)
    last = pushes[-1]
    body = last.get_data()
    expected = sign(configured["push_secret"], last.headers["X-Fspbx-Timestamp"], body)
    assert hmac.compare_digest(last.headers["X-Fspbx-Signature"], expected)
    payload = json.loads(body)
    assert (payload["from"], payload["our_number"], payload["text"]) == (REMOTE, OURS, "ping the app")
    assert payload["extension"] == EXT


def test_voicemail_sms_carries_the_transcript_of_the_configured_command(service_env, esl, httpserver, tmp_path):
    """With a transcription command, the notice waits for its transcript and carries a summary of it."""
    script = tmp_path / "transcribe.py"
    script.write_text("import sys\nprint('Hi, it is Alice,', 'call me back about', sys.argv[1].rsplit('/', 1)[-1])\n")
    service = ServiceProcess({**service_env, "FSPBX_SMS_TRANSCRIPTION_COMMAND": f"{sys.executable} {script}"},
                             workdir=tmp_path)
    carrier = Carrier(httpserver)
    try:
        service.start()
        Telnyx(service, httpserver)
        service.cli("number", "add", "+15550009999", "--carrier", "telnyx-main", "--system", "--domain", "pbx.test")
        service.cli("extension", "set", EXT, "--mobile", "+15557650000", "--voicemail-sms")
        service.wait_esl_connected()
        esl.voicemail_left("1001", caller_id_name="Alice", caller_id_number="5551112222", length_seconds=9)
        esl.wait_for(lambda: len(carrier.sent) == 1, timeout=15)
    finally:
        service.stop()
    text = carrier.sent[0]["text"]
    assert text.startswith("New voicemail for 1001 from Alice 5551112222")
    assert "Transcript: Hi, it is Alice, call me back about " in text
    assert text.endswith(".wav")
