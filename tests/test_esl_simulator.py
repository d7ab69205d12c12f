"""The ESL simulator (``tests/esl_simulator``) on its own: raw sockets against it, byte-level shapes, and a
replay of the recordings in ``tests/transcripts/`` whose replies must have the recorded structure."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.esl_simulator import EslSimulator, SipDelivery
from tests.esl_simulator.events import Event, json_string, url_encode
from tests.esl_simulator.tokenizer import separate_string
from tests.esl_simulator.wire_client import WireClient, WireEvent, WireFrame, parse_event, split_frame

TRANSCRIPTS = Path(__file__).parent / "transcripts"
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SENDER = "+15551234567@pbx.test"


@pytest.fixture
def sim() -> Iterator[EslSimulator]:
    with EslSimulator(no_answer_delay=0.2, answer_delay=0.01) as simulator:
        yield simulator


@pytest.fixture
def connect(sim) -> Iterator[Callable[..., WireClient]]:
    """Opens raw connections to ``sim`` (logged in unless ``login=False``); closes them after the test."""
    opened: list[WireClient] = []

    def open_connection(*, login: bool = True) -> WireClient:
        client = WireClient(sim.host, sim.port)
        opened.append(client)
        if login:
            client.login()
        return client

    yield open_connection
    for client in opened:
        client.close()


@pytest.fixture
def client(connect) -> WireClient:
    return connect()


def events_until_heartbeat(client: WireClient, sim: EslSimulator) -> list[WireEvent]:
    """Every event the client gets before a HEARTBEAT fired now (the client must be subscribed to it)."""
    sim.heartbeat()
    events = []
    while (event := client.event()).get("Event-Name") != "HEARTBEAT":
        events.append(event)
    return events


# --- FreeSWITCH's argument tokenizer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("sip|a@h|b@h|hello|text/plain", ["sip", "a@h", "b@h", "hello", "text/plain"]),
        ("sip|a|b|don't stop, it's fine", ["sip", "a", "b", "dont stop, its fine"]),
        ("sip|a|b|rock 'n' roll", ["sip", "a", "b", "rock n roll"]),
        ("sip|a|b|'single", ["sip", "a", "b", "'single"]),
        ("sip|a|b|''", ["sip", "a", "b", ""]),
        ("sip|a|b|'a|b'", ["sip", "a", "b", "a|b"]),
        ("sip|a|b|x\\|y\\'z\\\\w\\\"q", ["sip", "a", "b", "x|y'z\\w\"q"]),
        ("sip|a|b|1\\n2\\r3\\t4\\s5", ["sip", "a", "b", "1\n2\r3\t4 5"]),
        ("sip|a|b|  padded  ", ["sip", "a", "b", "padded"]),
        ("sip|a|b|\\s padded \\s", ["sip", "a", "b", "  padded  "]),
        ("sip|a|b|keep\\x and \\", ["sip", "a", "b", "keep\\x and \\"]),
        ("sip|a|b|c|d|e|f", ["sip", "a", "b", "c", "d|e|f"]),
        ("a||b", ["a", "", "b"]),
        ("a|b|", ["a", "b"]),
        ("^^;a;b|c", ["a", "b|c"]),
        ("^^ a  'b c' d", ["a", "b c", "d"]),
        ("", []),
    ],
)
def test_tokenizer_splits_like_switch_separate_string(text, fields):
    assert separate_string(text, "|", 5) == fields


def fs_escape(text: str) -> str:
    """The escaping DESIGN §5 prescribes for a ``chat`` body."""
    escaped = "".join(
        {"\\": "\\\\", "|": "\\|", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, c) for c in text
    )
    stripped = escaped.lstrip(" ")
    escaped = "\\s" * (len(escaped) - len(stripped)) + stripped
    stripped = escaped.rstrip(" ")
    return stripped + "\\s" * (len(escaped) - len(stripped))


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=80))
def test_escaped_bodies_come_out_of_the_tokenizer_unchanged(body):
    assert separate_string(f"sip|{SENDER}|1001@pbx.test|{fs_escape(body)}|text/plain", "|", 5)[3] == body


# --- event serialisation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (b"a b", b"a%20b"),
        (b"+1@h:5060;x=<y>", b"%2B1%40h%3A5060%3Bx%3D%3Cy%3E"),
        (b"%41 stays, %4a and %G1 do not", b"%41%20stays,%20%254a%20and%20%25G1%20do%20not"),
        ("ü✓".encode(), b"%C3%BC%E2%9C%93"),
        (b"!$'()*,-./_~AZaz09", b"!$'()*,-./_~AZaz09"),
        (b'"#&?[\\]^`{|}\r\n\x7f\x01', b"%22%23%26%3F%5B%5C%5D%5E%60%7B%7C%7D%0D%0A%7F%01"),
    ],
)
def test_url_encoding_is_freeswitchs(value, encoded):
    assert url_encode(value) == encoded


def test_plain_serialisation_undef_and_inner_body():
    event = Event("CUSTOM", "x::y", [("Event-Subclass", "x::y"), ("Empty", ""), ("Content-Length", "3")])
    assert event.plain() == b"Event-Subclass: x%3A%3Ay\nEmpty: _undef_\nContent-Length: 3\n\n"
    event.set_body(b"line\n\xff\0after NUL")
    assert event.plain().endswith(b"Content-Length: 3\nContent-Length: 6\n\nline\n\xff")


def test_json_serialisation_keeps_raw_bytes_and_duplicates():
    event = Event("CUSTOM", None, [("a", "1"), ("a", "2"), ("q", 'say "hi"\t\x01')])
    event.set_body(b"caf\xc3\xa9 \xff")
    assert event.json() == (
        b'{"a":"1","a":"2","q":"say \\"hi\\"\\t\\u0001","Content-Length":"7","_body":"caf\xc3\xa9 \xff"}'
    )
    assert json_string(b"/") == b'"/"'


# --- connecting and authenticating --------------------------------------------------------------------------


def test_wrong_password_is_refused_and_the_socket_closed(connect):
    client = connect(login=False)
    assert client.frame().raw == b"Content-Type: auth/request\n\n"
    assert (
        client.command("auth WrongPassword").raw
        == b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"
    )
    notice = client.frame()
    assert notice.raw == b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n" + GOODBYE
    assert client.closed_by_server()


def test_commands_before_auth_are_not_found_and_exit_says_bye(connect):
    client = connect(login=False)
    client.frame()
    assert client.command("api status").reply == "-ERR command not found"
    assert client.command("event plain ALL").reply == "-ERR command not found"
    assert client.command("auth ClueCon").reply == "+OK accepted"
    assert client.command("auth ClueCon").reply == "-ERR command not found"
    assert client.command("exit").raw == b"Content-Type: command/reply\nReply-Text: +OK bye\n\n"
    assert client.frame().body == GOODBYE
    assert client.closed_by_server()


def test_exit_works_before_auth_too(connect):
    client = connect(login=False)
    client.frame()
    assert client.command("exit").reply == "+OK bye"
    assert client.frame().content_type == "text/disconnect-notice"


def test_command_framing_blank_lines_crlf_and_pipelining(sim, connect):
    client = connect()
    client.send("\r\n\n\nevent plain HEARTBEAT\r\n\r\napi version\n\nnix_no_such\n\n")
    assert client.frame().reply == "+OK event listener enabled plain"
    assert client.frame().body == b"FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    assert client.frame().reply == "-ERR command not found"
    assert sim.commands == ["auth ClueCon", "event plain HEARTBEAT", "api version", "nix_no_such"]


# --- subscriptions and filters ------------------------------------------------------------------------------


def test_event_command_replies_and_format_switch(client):
    assert client.command("event plain BOGUS_EVENT_NAME").reply == "-ERR no keywords supplied"
    assert client.command("event").reply == "-ERR no keywords supplied"
    assert client.command("event json").reply == "-ERR no keywords supplied"
    assert client.command("event HEARTBEAT").reply == "+OK event listener enabled json"
    assert client.command("events xml message").reply == "+OK event listener enabled xml"
    assert client.command("noevents").reply == "+OK no longer listening for events"
    assert client.command("noevents").reply == "-ERR not listening for events"


def test_words_after_custom_are_subclasses_and_names_are_case_insensitive(sim, client):
    client.command("event plain heartbeat CUSTOM sofia::register BACKGROUND_JOB")
    client.command("bgapi version")
    sim.register("1001")
    events = events_until_heartbeat(client, sim)
    assert [event.get("Event-Subclass") for event in events] == ["sofia::register"]


def test_subclasses_are_case_sensitive_and_subscriptions_cumulative(sim, client):
    client.command("event plain CUSTOM sofia::REGISTER")
    client.command("event plain HEARTBEAT CUSTOM sofia::unregister")
    sim.register("1001")
    sim.unregister("1001")
    assert [event.get("Event-Subclass") for event in events_until_heartbeat(client, sim)] == [
        "sofia::unregister"
    ]


def test_nixevent_turns_all_into_every_name_but_one_without_subclasses(sim, client):
    client.command("event plain ALL")
    sim.register("1001")
    assert len(events_until_heartbeat(client, sim)) == 5
    assert client.command("nixevent MESSAGE_QUERY").reply == "+OK events nixed"
    assert client.command("nixevent BOGUS").reply == "-ERR no keywords supplied"
    sim.register("1002")
    names = [
        event.get("Event-Subclass") or event.get("Event-Name")
        for event in events_until_heartbeat(client, sim)
    ]
    assert names == ["MESSAGE_WAITING"]
    client.command("event plain CUSTOM sofia::register")
    sim.register("1003")
    names = [
        event.get("Event-Subclass") or event.get("Event-Name")
        for event in events_until_heartbeat(client, sim)
    ]
    assert names == ["sofia::register", "MESSAGE_WAITING"]


def test_filters_are_a_whitelist_over_subscribed_events(sim, client):
    client.command("event plain HEARTBEAT MESSAGE CUSTOM sofia::register sofia::unregister")
    assert client.command("filter Event-Subclass sofia::register").raw == (
        b"Content-Type: command/reply\nReply-Text: +OK filter added. [Event-Subclass]=[sofia::register]\n\n"
    )
    assert client.command("filter Event-Name HEARTBEAT").reply == "+OK filter added. [Event-Name]=[HEARTBEAT]"
    assert client.command("filter add from-user -1002").reply == "+OK filter added. [from-user]=[-1002]"
    sim.phone_message("1001", "+15557654321", "not whitelisted")
    sim.register("1002")
    sim.register("1001")
    sim.unregister("1001")
    assert [event.get("from-user") for event in events_until_heartbeat(client, sim)] == ["1001"]


def test_filter_syntax_and_delete(sim, client):
    assert client.command("filter").reply == "-ERR command not found"
    assert client.command("filter delete").reply == "-ERR invalid syntax"
    assert client.command("filter username").reply == "-ERR invalid syntax"
    assert client.command("filter username 1001").reply == "+OK filter added. [username]=[1001]"
    assert client.command("filter delete username 1001").reply == "+OK filter deleted. [username][1001]"
    assert client.command("filter delete username").reply == "+OK filter deleted. [username][]"
    assert client.command("filter Event-Subclass /^sofia::(un)?register$/").reply.startswith(
        "+OK filter added."
    )
    assert client.command("filter delete all").reply == "+OK filter deleted. [all][]"
    client.command("event plain CUSTOM sofia::register")
    client.command("filter from-user /^10(0[2-9])$/")
    sim.register("1001")
    sim.register("1002")
    assert client.event().get("from-user") == "1002"


def test_session_commands_on_an_inbound_socket(client):
    assert client.command("linger").reply == "-ERR not controlling a session"
    assert client.command("linger 5").reply == "-ERR not controlling a session"
    assert client.command("nolinger").reply == "-ERR not controlling a session"
    assert client.command("divert_events on").reply == "-ERR not controlling a session."
    assert client.command("sendmsg").reply == "-ERR invalid session id []"
    assert client.command("getvar foo").reply == "-ERR command not found"
    assert client.command("nolog").reply == "-ERR not loging"
    assert client.command("log 7").reply == "+OK log level 7 [7]"
    assert client.command("log").reply == "+OK log level  [7]"
    assert client.command("log nonsense").reply == "-ERR invalid log level"
    assert client.command("nolog").reply == "+OK no longer logging"
    assert client.command("myevents 1234 json").reply == "-ERR invalid uuid"


def test_event_formats_json_and_xml(sim, client):
    client.command("event json HEARTBEAT")
    sim.heartbeat()
    frame = client.frame()
    assert frame.headers[0][0] == "Content-Length"
    assert frame.content_type == "text/event-json"
    assert json.loads(frame.body)["Event-Name"] == "HEARTBEAT"
    assert not frame.body.endswith(b"\n")
    client.command("event xml BACKGROUND_JOB")
    client.command("bgapi version")
    frame = client.frame()
    assert frame.content_type == "text/event-xml"
    assert frame.body.startswith(b"<event>\n  <headers>\n    <Event-Name>BACKGROUND_JOB</Event-Name>\n")
    assert frame.body.endswith(
        b"  </headers>\n  <Content-Length>50</Content-Length>\n"
        b"  <body>FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n</body>\n</event>"
    )


# --- api and bgapi ------------------------------------------------------------------------------------------


def test_api_replies(client):
    assert client.command("api no_such_command foo").raw == (
        b"Content-Type: api/response\nContent-Length: 40\n\n-ERR no_such_command Command not found!\n"
    )
    assert client.command("api").reply == "-ERR command not found"
    assert client.command("api chat").body == b"Invalid"
    assert client.command("api chat sip|a|b").body == b"Invalid"
    assert client.command("api sofia_contact").body == b"error/user_not_registered"
    assert client.command("api global_getvar domain").body == b"pbx.test"
    assert client.command("api eval ${domain}").body == b"pbx.test"
    assert client.command("api global_getvar no_such_variable").body == b"-ERR no reply\n"
    assert client.command("api status").body.startswith(b"UP 0 years, 0 days, 0 hours, ")


def test_bgapi_reply_comes_first_and_the_job_goes_to_every_subscriber(sim, connect):
    issuer, watcher, deaf = connect(), connect(), connect()
    issuer.command("event plain BACKGROUND_JOB")
    watcher.command("event json BACKGROUND_JOB")
    deaf.command("event plain HEARTBEAT")
    reply = issuer.command("bgapi status")
    job_uuid = reply.header("Job-UUID")
    assert reply.raw == (
        b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: %s\nJob-UUID: %s\n\n"
        % (job_uuid.encode(), job_uuid.encode())
    )
    for listener in (issuer, watcher):
        job = listener.event()
        assert (job.get("Job-UUID"), job.get("Job-Command"), job.get("Job-Command-Arg")) == (
            job_uuid,
            "status",
            None,
        )
        assert job.body.startswith(b"UP ")
    assert events_until_heartbeat(deaf, sim) == []


def test_bgapi_honours_the_clients_job_uuid(client):
    client.command("event plain BACKGROUND_JOB")
    client.send("bgapi no_such_command foo\nJob-UUID: 11111111-2222-3333-4444-555555555555\n\n")
    assert client.frame().reply == "+OK Job-UUID: 11111111-2222-3333-4444-555555555555"
    job = client.event()
    assert job.get("Job-UUID") == "11111111-2222-3333-4444-555555555555"
    assert job.get("Job-Command-Arg") == "foo"
    assert job.body == b"-ERR no_such_command Command not found!\n"


# --- sending texts to phones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reply", "result_code", "failure"),
    [
        (202, b"Sent", "202", "false"),
        (200, b"Sent", "200", "false"),
        (404, b"Error! Message Not Sent", "404", "true"),
        (480, b"Error! Message Not Sent", "480", "true"),
        (None, b"Error! Message Not Sent", "0", "true"),
    ],
)
def test_api_chat_result_follows_the_phone(sim, client, answer, reply, result_code, failure):
    contact = sim.register("1001")
    sim.set_phone_response("1001", answer)
    client.command("event plain MESSAGE HEARTBEAT")
    assert client.command(f"api chat sip|{SENDER}|1001@pbx.test|Hi there|text/plain").body == reply
    (echo,) = events_until_heartbeat(client, sim)
    assert echo.names()[13:] == [
        "proto",
        "from",
        "to",
        "type",
        "skip_global_process",
        "blocking",
        "dest_proto",
        "Delivery-Result-Code",
        "Delivery-Failure",
        "Content-Length",
    ]
    assert (echo.get("proto"), echo.get("Delivery-Result-Code"), echo.get("Delivery-Failure")) == (
        "global",
        result_code,
        failure,
    )
    assert sim.deliveries == [
        SipDelivery(
            "1001",
            "pbx.test",
            contact,
            '"+15551234567" <sip:+15551234567@pbx.test>',
            "text/plain",
            b"Hi there",
            answer,
        )
    ]


def test_chat_without_type_is_text_html_and_to_each_contact(sim, client):
    desk = sim.register("1001", contact="sip:1001@192.0.2.20:5060")
    mobile = sim.register("1001", contact="sip:1001@192.0.2.21:5060")
    assert client.command(f"api chat sip|{SENDER}|internal/1001@pbx.test|it\\'s \\| ok").body == b"Sent"
    assert [(d.contact, d.content_type, d.body) for d in sim.deliveries] == [
        (desk, "text/html", b"it's | ok"),
        (mobile, "text/html", b"it's | ok"),
    ]


def test_chat_to_an_unregistered_user_fires_sofia_error(sim, client):
    client.command("event plain MESSAGE HEARTBEAT CUSTOM sofia::error")
    assert client.command(f"api chat sip|{SENDER}|1002@pbx.test|Hello 1002|text/plain").body == (
        b"Error! Message Not Sent"
    )
    error, echo = events_until_heartbeat(client, sim)
    assert error.names()[14:] == [
        "Error-Type",
        "Error-Reason",
        "Chat-Send-To",
        "Chat-Send-From",
        "Chat-Send-Profile",
        "Content-Length",
    ]
    assert (error.get("Error-Reason"), error.get("Chat-Send-To"), error.body) == (
        "no recipient",
        "1002@pbx.test",
        b"Hello 1002",
    )
    assert int(error.get("Event-Sequence")) > int(echo.get("Event-Sequence"))
    assert (echo.get("Delivery-Failure"), echo.get("Delivery-Result-Code")) == ("true", None)
    assert sim.deliveries == []


def test_api_chat_holds_events_back_until_its_reply(sim, client):
    sim.register("1001")
    sim.set_phone_response("1001", None)
    client.command("event plain HEARTBEAT")
    client.send(f"api chat sip|{SENDER}|1001@pbx.test|slow|text/plain\n\n")
    sim.wait_for(lambda: sim.commands[-1].startswith("api chat"))
    sim.heartbeat()
    assert client.frame().content_type == "api/response"
    assert client.event().get("Event-Name") == "HEARTBEAT"


def test_bgapi_chat_reports_in_background_job(sim, client):
    sim.register("1001")
    sim.set_phone_response("1001", 404)
    client.command("event plain BACKGROUND_JOB")
    client.send(f"bgapi chat sip|{SENDER}|1001@pbx.test|Hi|text/plain\nJob-UUID: job-1\n\n")
    assert client.frame().reply == "+OK Job-UUID: job-1"
    job = client.event()
    assert (job.get("Job-Command"), job.get("Job-Command-Arg"), job.body) == (
        "chat",
        f"sip|{SENDER}|1001@pbx.test|Hi|text/plain",
        b"Error! Message Not Sent",
    )


def send_message_command(body: bytes, *extra: str, to: str = "1001@pbx.test") -> bytes:
    headers = [
        "sendevent CUSTOM",
        "Event-Subclass: SMS::SEND_MESSAGE",
        "dest_proto: sip",
        "proto: global",
        f"from: {SENDER}",
        f"to: {to}",
        "type: text/plain;charset=UTF-8",
        *extra,
        f"Content-Length: {len(body)}",
    ]
    return "\n".join(headers).encode() + b"\n\n" + body


def test_send_message_event_echo_copy_and_accepted_report(sim, client):
    sim.register("1001")
    client.command("event plain CUSTOM SMS::SEND_MESSAGE SMS::DELIVERY_REPORT")
    body = "Héllo 😀\nsecond line\n\nafter a blank line".encode()
    client.send(send_message_command(body, "x-gw-msg-id: 42", "sip_h_X-SMS-Id: abc-123"))
    reply = client.frame().reply
    assert re.fullmatch(r"\+OK [0-9a-f-]{36}", reply)
    echo, copy, report = client.event(), client.event(), client.event()
    assert echo.names()[:3] == ["Event-Subclass", "Command", "dest_proto"]
    assert (echo.get("Command"), echo.get("Event-UUID"), echo.body) == ("sendevent CUSTOM", reply[4:], body)
    assert echo.names()[-2:] == ["skip_global_process", "Content-Length"]
    assert copy.names()[-5:] == [
        "skip_global_process",
        "dest_proto",
        "Nonblocking-Delivery",
        "skip_global_process",
        "Content-Length",
    ]
    assert copy.get("Event-Sequence") == echo.get("Event-Sequence")
    assert (report.get("Event-Subclass"), report.get("Status"), report.get("x-gw-msg-id")) == (
        "SMS::DELIVERY_REPORT",
        "Accepted",
        "42",
    )
    assert report.body is None
    (delivery,) = sim.deliveries
    assert (delivery.body, delivery.content_type, delivery.extra_headers) == (
        body,
        "text/plain;charset=UTF-8",
        (("X-SMS-Id", "abc-123"),),
    )


@pytest.mark.parametrize(
    ("registered", "status", "code"), [(True, "Success", "202"), (False, "Failure", None)]
)
def test_blocking_send_message_reports_the_outcome(sim, client, registered, status, code):
    if registered:
        sim.register("1001")
    client.command("event plain CUSTOM SMS::DELIVERY_REPORT sofia::error")
    client.send(send_message_command(b"blocking", "blocking: true"))
    client.frame()
    events = [client.event() for _ in range(1 if registered else 2)]
    report = events[-1]
    assert (report.get("Status"), report.get("Delivery-Result-Code")) == (status, code)
    if not registered:
        assert events[0].get("Error-Reason") == "no recipient"


def test_send_message_from_full_and_missing_dest_proto(sim, client):
    sim.register("1001")
    client.send(
        send_message_command(b"a", "from_full: <sip:+15551234567@pbx.test>").replace(
            b"proto: global", b"proto: sip"
        )
    )
    client.frame()
    client.send(
        b"sendevent CUSTOM\nEvent-Subclass: SMS::SEND_MESSAGE\nto: 1001@pbx.test\nfrom: x@pbx.test\n\n"
    )
    client.frame()
    client.send(send_message_command(b"c").replace(b"proto: global", b"proto: sip"))
    client.frame()
    sim.wait_for(lambda: len(sim.deliveries) == 2)
    assert [d.from_header for d in sim.deliveries] == ["<sip:+15551234567@pbx.test>", "<sip:127.0.0.1>"]


def test_sendevent_of_other_events_and_body_header(sim, client):
    client.command("event plain ALL")
    reply = client.command("sendevent NOT_AN_EVENT\nfoo: bar\nempty: \n_body: inline body")
    event = client.event()
    assert event.names()[:2] == ["Command", "foo"]
    assert (event.get("Event-Name"), event.get("Event-UUID"), event.get("_body"), event.body) == (
        "COMMAND",
        reply.reply[4:],
        "inline body",
        b"inline body",
    )


# --- registrations ------------------------------------------------------------------------------------------


def test_register_refresh_unregister_expire_events(sim, client):
    client.command("event plain CUSTOM sofia::register sofia::unregister sofia::expire")
    contact = sim.register("1001", expires=600, user_agent="Phone/1", network_ip="192.0.2.7")
    assert sim.register("1001", expires=600, user_agent="Phone/1", network_ip="192.0.2.7") == contact
    sim.unregister("1001")
    sim.register("1003", expires=10)
    sim.expire("1003")
    first, refresh, gone, _, expired = (client.event() for _ in range(5))
    assert first.names()[13:30] == [
        "Event-Sequence",
        "profile-name",
        "from-user",
        "from-host",
        "presence-hosts",
        "contact",
        "call-id",
        "rpid",
        "status",
        "expires",
        "to-user",
        "to-host",
        "network-ip",
        "network-port",
        "username",
        "realm",
        "user-agent",
    ]
    assert (first.get("contact"), first.get("expires"), first.get("network-ip")) == (
        f'"" <{contact}>',
        "600",
        "192.0.2.7",
    )
    assert refresh.get("call-id") == first.get("call-id")
    assert (first.get("update-reg"), refresh.get("update-reg")) == (None, "true")
    assert gone.get("Event-Subclass") == "sofia::unregister"
    assert expired.names()[14:] == [
        "profile-name",
        "call-id",
        "user",
        "username",
        "host",
        "contact",
        "expires",
        "user-agent",
        "realm",
        "network-ip",
        "network-port",
    ]
    assert int(expired.get("expires")) > 1_700_000_000


def test_registration_queries(sim, client):
    assert client.command("api sofia_contact */1001@pbx.test").body == b"error/user_not_registered"
    assert client.command("api show registrations as json").body == b'{"row_count": 0}'
    desk = sim.register("1001", contact="sip:1001@192.0.2.20:5062")
    mobile = sim.register("1001", contact="sip:1001@192.0.2.21:5063")
    for query in ("1001@pbx.test", "internal/1001@pbx.test", "*/1001@pbx.test"):
        assert client.command(f"api sofia_contact {query}").body == (
            f"sofia/internal/{desk},sofia/internal/{mobile}".encode()
        )
    rows = json.loads(client.command("api show registrations as json").body)
    assert rows["row_count"] == 1
    assert (rows["rows"][0]["url"], rows["rows"][0]["network_port"]) == (f"sofia/internal/{mobile}", "5063")
    sim.unregister("1001", contact=desk)
    assert client.command("api sofia_contact 1001@pbx.test").body == f"sofia/internal/{mobile}".encode()


def test_single_registration_mode_replaces_the_other_contact():
    with EslSimulator(multiple_registrations=False) as simulator:
        simulator.register("1001", contact="sip:1001@192.0.2.20:5060")
        phone = simulator.register("1001", contact="sip:1001@192.0.2.21:5060")
        client = WireClient(simulator.host, simulator.port)
        try:
            client.login()
            assert (
                client.command("api sofia_contact 1001@pbx.test").body == f"sofia/internal/{phone}".encode()
            )
        finally:
            client.close()


def test_socket_disconnection_unregister_variant(sim, client):
    client.command("event plain CUSTOM sofia::unregister")
    sim.register("1001")
    sim.unregister("1001", reason="socket-disconnection")
    assert client.event().names()[14:] == [
        "profile-name",
        "from-user",
        "from-host",
        "call-id",
        "rpid",
        "reason",
    ]


# --- texts from phones --------------------------------------------------------------------------------------


def test_phone_message_event_shape(sim, client):
    sim.register("1001", network_ip="192.0.2.7")
    client.command("event plain MESSAGE")
    body = b"caf\xe9 \x81 not UTF-8\nline two"
    sim.phone_message(
        "1001",
        "+15557654321",
        body,
        content_type="text/plain;charset=ISO-8859-1",
        extra_headers={"X-Client-Msg-Id": "m-1", "P-Asserted-Identity": "<sip:1001@pbx.test>"},
    )
    event = client.event()
    assert event.names()[12:] == [
        "Event-Sequence",
        "login",
        "proto",
        "to_proto",
        "from",
        "from_user",
        "from_host",
        "to_user",
        "to_host",
        "from_sip_ip",
        "from_sip_port",
        "to",
        "subject",
        "context",
        "type",
        "from_full",
        "sip_profile",
        "sip_h_X-Client-Msg-Id",
        "dest_proto",
        "max_forwards",
        "final_delivery",
        "Nonblocking-Delivery",
        "Content-Length",
    ]
    assert (event.get("type"), event.get("from_sip_ip"), event.get("to"), event.body) == (
        "text/plain",
        "192.0.2.7",
        "+15557654321@pbx.test",
        body,
    )


def test_fire_copies_share_the_sequence_and_composing_is_dropped(sim, client):
    client.command("event plain MESSAGE HEARTBEAT")
    sim.phone_message("1001", "1002", "typing", content_type="application/im-iscomposing+xml")
    sim.phone_message("1001", "+15557654321", "hi", fire_copies=2, chatplan_vars={"sms_route": "external"})
    copies = events_until_heartbeat(client, sim)
    assert len({event.get("Event-Sequence") for event in copies}) == 1
    assert [event.get("final_delivery") for event in copies] == [None, None, "true"]
    assert [event.get("sms_route") for event in copies] == ["external"] * 3


def test_without_final_freeswitch_delivers_the_phones_text_itself(sim, client):
    phone = sim.register("1002")
    client.command("event plain MESSAGE HEARTBEAT CUSTOM sofia::error")
    sim.phone_message("1001", "1002", "to a registered phone", final=False)
    sim.phone_message("1001", "1003", "to nobody", final=False)
    events = events_until_heartbeat(client, sim)
    assert [event.get("Event-Subclass") or event.get("Event-Name") for event in events] == [
        "MESSAGE",
        "sofia::error",
        "MESSAGE",
    ]
    assert events[1].get("Chat-Send-Profile") == "internal"
    (delivery,) = sim.deliveries
    assert (delivery.contact, delivery.body, delivery.from_header.startswith("<sip:1001@pbx.test>;tag=")) == (
        phone,
        b"to a registered phone",
        True,
    )


def test_recv_message_event_when_fire_message_events_is_on():
    with EslSimulator(fire_message_events=True) as simulator:
        client = WireClient(simulator.host, simulator.port)
        try:
            client.login()
            client.command("event plain MESSAGE RECV_MESSAGE")
            simulator.phone_message("1001", "+15557654321", "hi")
            received, message = client.event(), client.event()
            assert (received.names()[0], received.names()[-2:]) == (
                "Core-UUID",
                ["Event-Name", "Content-Length"],
            )
            assert received.get("Event-Name") == "RECV_MESSAGE"
            assert received.get("Event-Sequence") == message.get("Event-Sequence")
        finally:
            client.close()


# --- other events -------------------------------------------------------------------------------------------


def test_heartbeat_voicemail_and_raw_events(sim, client):
    client.command("event plain HEARTBEAT TRAP CUSTOM vm::maintenance")
    sim.voicemail_left("1001", caller_id_name="Alice", caller_id_number="+15557654321", length_seconds=12)
    sim.send_event("TRAP", {"info": "lost 3 events"}, b"raw body")
    sim.heartbeat()
    voicemail, trap, beat = client.event(), client.event(), client.event()
    assert voicemail.names()[14:] == [
        "VM-Action",
        "VM-User",
        "VM-Domain",
        "VM-Caller-ID-Name",
        "VM-Caller-ID-Number",
        "VM-File-Path",
        "VM-Flags",
        "VM-Folder",
        "VM-UUID",
        "VM-Message-Len",
        "VM-Timestamp",
    ]
    assert (voicemail.get("VM-Action"), voicemail.get("VM-Message-Len")) == ("leave-message", "12")
    assert (trap.get("info"), trap.body) == ("lost 3 events", b"raw body")
    assert beat.get("Event-Info") == "System Ready"
    sequences = [int(event.get("Event-Sequence")) for event in (voicemail, trap, beat)]
    assert sequences == sorted(sequences)
    assert {event.get("Core-UUID") for event in (voicemail, trap, beat)} == {sim.core_uuid}


def test_periodic_heartbeat():
    with EslSimulator(heartbeat_interval=0.05) as simulator:
        client = WireClient(simulator.host, simulator.port)
        try:
            client.login()
            client.command("event plain HEARTBEAT")
            assert [client.event().get("Event-Name") for _ in range(2)] == ["HEARTBEAT", "HEARTBEAT"]
        finally:
            client.close()


# --- faults -------------------------------------------------------------------------------------------------


def test_shutdown_sends_the_event_then_the_notice_to_everyone(sim, connect):
    listener, other = connect(), connect()
    listener.command("event plain SHUTDOWN")
    sim.shutdown()
    assert listener.event().get("Event-Info") == "System Shutting Down"
    for client in (listener, other):
        assert client.frame().raw == (
            b"Content-Type: text/disconnect-notice\nContent-Length: 31\n\nThe system is being shut down.\n"
        )
        assert client.closed_by_server()
    sim.wait_for(lambda: sim.connection_count() == 0)
    connect().command("api version")


def test_fsctl_shutdown_answers_first(sim, client):
    assert client.command("api fsctl shutdown").body == b"+OK\n"
    assert client.frame().body == b"The system is being shut down.\n"


def test_drop_and_slow_consumer_kill(sim, connect):
    quiet, listening = connect(), connect()
    listening.command("event plain HEARTBEAT")
    sim.kill_slow_consumers()
    assert listening.frame().body == b"killed listener because of lost events\n"
    assert listening.closed_by_server()
    sim.wait_for(lambda: sim.connection_count() == 1)
    sim.drop_connections()
    assert quiet.closed_by_server()
    sim.wait_for(lambda: sim.connection_count() == 0)


@pytest.mark.parametrize("mode", ["drop_before", "drop_after_execute", "drop_mid_reply"])
def test_fail_next(sim, connect, mode):
    sim.register("1001")
    watcher, victim = connect(), connect()
    watcher.command("event plain BACKGROUND_JOB")
    sim.fail_next("bgapi chat", mode)
    victim.send(f"bgapi chat sip|{SENDER}|1001@pbx.test|once|text/plain\n\n")
    if mode == "drop_mid_reply":
        with pytest.raises(EOFError):
            victim.frame()
    else:
        assert victim.closed_by_server()
    if mode == "drop_before":
        assert watcher.command("api version").content_type == "api/response"
        assert sim.deliveries == []
    else:
        assert watcher.event().body == b"Sent"
        assert [d.body for d in sim.deliveries] == [b"once"]
    assert sim.commands[-1].startswith("bgapi chat") or mode == "drop_before"


def test_connection_count_subscriptions_and_commands(sim, connect):
    first, second = connect(), connect()
    first.command("event plain HEARTBEAT")
    second.command("event json CUSTOM sofia::register")
    second.command("event json MESSAGE")
    assert sim.connection_count() == 2
    assert sim.subscriptions() == [
        "event plain HEARTBEAT",
        "event json CUSTOM sofia::register",
        "event json MESSAGE",
    ]
    second.command("noevents")
    assert sim.subscriptions() == ["event plain HEARTBEAT"]
    first.command("exit")
    sim.wait_for(lambda: sim.connection_count() == 1)
    with pytest.raises(ValueError, match="unknown fault mode"):
        sim.fail_next("api", "explode")


def test_stop_closes_everything():
    simulator = EslSimulator().start()
    client = WireClient(simulator.host, simulator.port)
    try:
        client.login()
        simulator.stop()
        assert client.closed_by_server()
        with pytest.raises(OSError), socket.create_connection((simulator.host, simulator.port), timeout=1):
            pass
    finally:
        client.close()


# --- replaying the recordings -------------------------------------------------------------------------------

PHONES = {
    "1001": "sip:1001@127.0.0.1:5081",
    "1002": "sip:1002@127.0.0.1:5082",
    "1003": "sip:1003@127.0.0.1:5083",
}


def register(user: str, **options) -> Callable[[EslSimulator], None]:
    def act(simulator: EslSimulator) -> None:
        simulator.register(
            user, contact=PHONES[user], user_agent="pytest-phone/1.0", network_ip="127.0.0.1", **options
        )

    return act


def phones(*users: str, answer: int | None = 202) -> Callable[[EslSimulator], None]:
    def act(simulator: EslSimulator) -> None:
        for user in users:
            register(user)(simulator)
        simulator.set_phone_response("1001", answer)

    return act


@dataclass
class Scenario:
    """How to replay one recording: the simulator's state before it, and what happened on the FreeSWITCH
    side (keyed by the recorded ``Event-Sequence`` of the first frame it caused)."""

    setup: Callable[[EslSimulator], None] = lambda _simulator: None
    hooks: dict[int, Callable[[EslSimulator], None]] = field(default_factory=dict)
    #: Commands the simulator does not implement: neither sent nor their replies expected.
    skip_commands: tuple[str, ...] = ()
    #: Recorded events caused by things the simulator does not model.
    ignore_events: frozenset[str] = frozenset()
    options: dict[str, object] = field(default_factory=dict)


def chatplan(variant: str, to_user: str) -> dict[str, object]:
    """The chatplan of the recordings (README): ``fire`` in 05a-05f, none in 05g, an empty context in 05h."""
    if variant.startswith("05h"):
        return {"final": False}
    local = re.fullmatch(r"10[0-9][0-9]", to_user) is not None
    variables = {"DP_MATCH": to_user, "sms_route": "local"} if local else {"sms_route": "external"}
    return {
        "chatplan_vars": variables,
        "fire_copies": 0 if variant.startswith("05g") else 1,
        "final": not local,
    }


def phone_text(variant: str, message_sequence: int, **overrides) -> Callable[[EslSimulator], None]:
    """1001's phone sends the text the recording shows in the event with ``message_sequence``."""

    def act(simulator: EslSimulator) -> None:
        recorded = recorded_event(variant, message_sequence)
        to_user = recorded.get("to_user")
        extra = {
            name[len("sip_h_") :]: value for name, value in recorded.headers if name.startswith("sip_h_")
        }
        options = {"content_type": recorded.get("type"), "extra_headers": extra, **chatplan(variant, to_user)}
        simulator.phone_message("1001", to_user, recorded.body, **{**options, **overrides})

    return act


def recorded_event(variant: str, sequence: int) -> WireEvent:
    """The recorded plain MESSAGE event of a ``05*`` recording with that sequence."""
    for chunk in load_chunks(f"{variant}-plain"):
        if chunk["dir"] == "RECV" and f"\nEvent-Sequence: {sequence}\n" in chunk["data"]:
            return parse_event(split_frame(chunk["data"].encode()))
    raise LookupError(f"{variant}: no event {sequence}")


def phone_scenarios() -> dict[str, Scenario]:
    """``05*``: (trigger sequence in plain/json, in all-events, message sequence) for each text."""
    texts = {
        "05a": [(688, 686, 688)],
        "05b": [(695, 693, 695)],
        "05c": [(700, None, 700)],
        "05d": [(704, None, 704), (707, None, 707), (710, None, 710)],
        "05e": [(715, None, 715)],
        "05fa": [(817, 815, 817)],
        "05fb": [(824, 822, 824)],
        "05ga": [(745, 743, 745)],
        "05gb": [(752, 750, 752)],
        "05ha": [(776, 773, 775)],
        "05hb": [(779, 777, 779)],
    }
    names = {
        path.stem.split("-")[0]: path.stem.rsplit("-", 1)[0].removesuffix("-all-events")
        for path in TRANSCRIPTS.glob("05*-plain.jsonl")
    }
    scenarios = {}
    for prefix, triggers in texts.items():
        variant = names[prefix]
        options = {"fire_message_events": prefix.startswith("05f")}
        for suffix, column in (("plain", 0), ("json", 0), ("all-events-plain", 1)):
            if triggers[0][column] is None:
                continue
            hooks = {trigger[column]: phone_text(variant, trigger[2]) for trigger in triggers}
            scenarios[f"{variant}-{suffix}"] = Scenario(
                setup=phones("1001", "1002"),
                hooks=hooks,
                options=options,
                ignore_events=frozenset({"MESSAGE_WAITING", "RE_SCHEDULE"}),
            )
    for suffix in ("plain", "json"):
        scenarios[f"{names['05e']}-{suffix}"].hooks[715] = composing_then_text(names["05e"])
    scenarios[f"{names['05b']}-all-events-plain"].hooks[696] = EslSimulator.heartbeat
    return scenarios


def composing_then_text(variant: str) -> Callable[[EslSimulator], None]:
    """05e: an isComposing notification (no event at all), then a text to a number without ``+``."""
    composing = phone_text(variant, 715, content_type="application/im-iscomposing+xml")
    text = phone_text(variant, 715)

    def act(simulator: EslSimulator) -> None:
        composing(simulator)
        text(simulator)

    return act


REGISTRATION_HOOKS = {
    449: register("1001"),
    456: register("1001"),
    460: lambda sim: sim.unregister("1001"),
    465: lambda sim: sim.failed_register(
        "1002", contact=PHONES["1002"], user_agent="pytest-phone/1.0", network_ip="127.0.0.1"
    ),
    469: register("1003", expires=10),
    488: lambda sim: sim.expire("1003"),
}
UNSUPPORTED_QUERIES = (
    "api sofia status profile",
    "api user_exists",
    "api list_users",
    "api sofia_username_of",
    "api sofia_presence_data",
)

SCENARIOS: dict[str, Scenario] = {
    "01a-auth-wrong-password": Scenario(),
    "01b-auth-ok-and-event-subscriptions": Scenario(),
    "01c-heartbeat-event-plain-and-json": Scenario(hooks={447: EslSimulator.heartbeat}),
    "02a-register-unregister-expire-events-plain": Scenario(hooks=REGISTRATION_HOOKS),
    "02b-register-unregister-expire-events-json": Scenario(hooks=REGISTRATION_HOOKS),
    "02c-register-1001-all-events-plain": Scenario(hooks={449: register("1001")}),
    "03-api-registration-queries": Scenario(setup=phones("1001"), skip_commands=UNSUPPORTED_QUERIES),
    "04a-api-chat-phone-answers-202": Scenario(setup=phones("1001")),
    "04b-api-chat-phone-answers-200": Scenario(setup=phones("1001", answer=200)),
    "04c-api-chat-phone-answers-404": Scenario(setup=phones("1001", answer=404)),
    "04d-api-chat-phone-answers-480": Scenario(setup=phones("1001", answer=480)),
    "04e-api-chat-phone-no-answer": Scenario(setup=phones("1001", answer=None)),
    "04f-api-chat-unregistered-user": Scenario(setup=phones("1001")),
    "04g-api-chat-utf8-and-long-body": Scenario(setup=phones("1001")),
    "04h-bgapi-chat": Scenario(setup=phones("1001")),
    "04h2-bgapi-chat-no-answer": Scenario(setup=phones("1001", answer=None)),
    "04i-sendevent-send-message-basic": Scenario(setup=phones("1001")),
    "04j-sendevent-send-message-blocking-202": Scenario(setup=phones("1001")),
    "04k-sendevent-send-message-blocking-404": Scenario(setup=phones("1001", answer=404)),
    "04l-sendevent-send-message-unregistered": Scenario(setup=phones("1001")),
    "04m-sendevent-send-message-utf8-multiline-extra-headers": Scenario(setup=phones("1001")),
    **phone_scenarios(),
    "07a-bgapi-background-job-and-errors": Scenario(),
    "07b-freeswitch-shutdown-as-seen-by-esl-clients": Scenario(),
    "08-filter-nixevent-noevents-linger": Scenario(hooks={866: register("1002")}),
    "08b-event-subscription-custom-keyword-order": Scenario(),
}

#: Values that differ on every run or machine (the structure around them is still compared).
VOLATILE_HEADERS = frozenset(
    {
        "Event-Date-Local",
        "Event-Date-GMT",
        "Event-Date-Timestamp",
        "FreeSWITCH-IPv4",
        "FreeSWITCH-IPv6",
        "Event-Sequence",
        "Up-Time",
        "Uptime-msec",
        "Idle-CPU",
        "VM-Timestamp",
    }
)
_VOLATILE_VALUES = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b[0-9a-z]{16}@"), "<call-id>@"),
    (re.compile(r"tag=[0-9A-Za-z]+"), "tag=<tag>"),
    (re.compile(r"\b\d{10,}\b"), "<number>"),
    (re.compile(r"UP \d+ years, .* microseconds"), "UP <uptime>"),
    (re.compile(r"min idle cpu [\d./]+"), "min idle cpu <cpu>"),
    (re.compile(r"exp\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\) expsecs\(\d+\)"), "exp(<time>) expsecs(<n>)"),
)


def normalise(value: str) -> str:
    for pattern, replacement in _VOLATILE_VALUES:
        value = pattern.sub(replacement, value)
    return value


def load_chunks(name: str) -> list[dict]:
    return [
        json.loads(line) for line in (TRANSCRIPTS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    ]


class SequenceMap:
    """Checks that recorded and simulated Event-Sequence numbers correspond one to one (copies share one)."""

    def __init__(self) -> None:
        self.forward: dict[str, str] = {}
        self.backward: dict[str, str] = {}

    def check(self, recorded: str, actual: str) -> None:
        assert self.forward.setdefault(recorded, actual) == actual, f"sequence {recorded} split"
        assert self.backward.setdefault(actual, recorded) == recorded, f"sequences merged into {actual}"


def assert_same_shape(recorded: WireFrame, actual: WireFrame, sequences: SequenceMap) -> None:
    """Same outer header names and texts, same body; events compared header by header (names in order,
    values after normalising volatile parts)."""
    assert [name for name, _ in actual.headers] == [name for name, _ in recorded.headers], actual.raw
    for (name, want), (_, got) in zip(recorded.headers, actual.headers, strict=True):
        if name == "Content-Length":
            assert int(got) == len(actual.body)
        else:
            assert normalise(got) == normalise(want), (name, got, want)
    if not recorded.content_type.startswith("text/event-"):
        assert normalise(actual.body.decode("utf-8", "surrogateescape")) == normalise(
            recorded.body.decode("utf-8", "surrogateescape")
        )
        return
    want_event, got_event = parse_event(recorded), parse_event(actual)
    assert got_event.names() == want_event.names(), (got_event.names(), want_event.names())
    last = len(want_event.headers) - 1
    for index, ((name, want), (_, got)) in enumerate(zip(want_event.headers, got_event.headers, strict=True)):
        if index == last and name == "Content-Length" and got_event.body is not None:
            assert int(got) == len(got_event.body)
        elif name == "Event-Sequence":
            sequences.check(want, got)
        elif name not in VOLATILE_HEADERS:
            assert normalise(got) == normalise(want), (name, got, want)
    assert normalised_body(got_event.body) == normalised_body(want_event.body)


def normalised_body(body: bytes | None) -> str | None:
    return None if body is None else normalise(body.decode("utf-8", "surrogateescape"))


def replay(simulator: EslSimulator, name: str, scenario: Scenario) -> None:
    clients: dict[str, WireClient] = {}
    skipped_replies: dict[str, int] = {}
    hooks = dict(scenario.hooks)
    sequences = SequenceMap()
    try:
        for chunk in load_chunks(name):
            connection = chunk["conn"]
            data = chunk["data"].encode("utf-8")
            for sequence in [
                seq for seq in hooks if re.search(rf'Event-Sequence(: |":"){seq}\b', chunk["data"])
            ]:
                hooks.pop(sequence)(simulator)
            if connection not in clients:
                clients[connection] = WireClient(simulator.host, simulator.port)
            client = clients[connection]
            if chunk["dir"] == "SEND":
                if chunk["data"].startswith(scenario.skip_commands):
                    skipped_replies[connection] = skipped_replies.get(connection, 0) + 1
                else:
                    client.send(data)
            elif chunk["dir"] == "EOF":
                assert client.closed_by_server()
            elif skipped_replies.get(connection):
                skipped_replies[connection] -= 1
            else:
                recorded = split_frame(data)
                if recorded.content_type.startswith("text/event-") and (
                    parse_event(recorded).get("Event-Name") in scenario.ignore_events
                ):
                    continue
                assert_same_shape(recorded, client.frame(), sequences)
        assert not hooks, f"hooks never reached: {sorted(hooks)}"
    finally:
        for client in clients.values():
            client.close()


def test_every_recording_has_a_scenario():
    assert sorted(SCENARIOS) == sorted(path.stem for path in TRANSCRIPTS.glob("*.jsonl"))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replay_matches_the_recording(name):
    scenario = SCENARIOS[name]
    options = {"hostname": "vm", "no_answer_delay": 0.2, "multiple_registrations": False, **scenario.options}
    with EslSimulator(**options) as simulator:
        scenario.setup(simulator)
        replay(simulator, name, scenario)
