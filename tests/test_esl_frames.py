"""The ESL frame parser against every frame a real FreeSWITCH 1.10.12 sent in the recordings in
``tests/transcripts/`` (see its README in the upstream research notes), plus hand-built frames for the
greenswitch defects it replaces (SPEC §5.3)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from fspbx_sms.esl.frames import EslEvent, Frame, FrameError, FrameParser, decode_text, parse_event

TRANSCRIPT_DIR = Path(__file__).parent / "transcripts"
TRANSCRIPTS = sorted(TRANSCRIPT_DIR.glob("*.jsonl"))


def recorded_frames(path: Path) -> dict[str, list[bytes]]:
    """Per connection, the frames FreeSWITCH sent, each exactly as recorded (one RECV chunk = one frame)."""
    frames: dict[str, list[bytes]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        chunk = json.loads(line)
        if chunk["dir"] == "RECV":
            frames[chunk["conn"]].append(chunk["data"].encode("utf-8"))
    return frames


def recorded_stream(name: str, connection: str) -> list[Frame]:
    """Every frame one recorded connection received, parsed from its concatenated bytes."""
    return FrameParser().feed(b"".join(recorded_frames(TRANSCRIPT_DIR / name)[connection]))


def recorded_events(name: str, connection: str) -> list[EslEvent]:
    """The events one recorded connection received, parsed."""
    frames = recorded_stream(name, connection)
    return [parse_event(frame) for frame in frames if frame.content_type.startswith("text/event")]


def one_frame(data: bytes) -> Frame:
    (frame,) = FrameParser().feed(data)
    return frame


def test_the_recordings_are_here():
    assert len(TRANSCRIPTS) >= 50


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda path: path.stem)
def test_each_recorded_stream_splits_into_the_recorded_frames(path):
    for connection, chunks in recorded_frames(path).items():
        stream = b"".join(chunks)
        whole = FrameParser().feed(stream)
        assert len(whole) == len(chunks), connection
        for frame, chunk in zip(whole, chunks, strict=True):
            header_block, _, after_blank_line = chunk.partition(b"\n\n")
            assert frame.body == after_blank_line
            assert f"Content-Type: {frame.content_type}".encode() in header_block.split(b"\n")
        parser = FrameParser()
        in_pieces = [
            frame for start in range(0, len(stream), 7) for frame in parser.feed(stream[start : start + 7])
        ]
        assert in_pieces == whole


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda path: path.stem)
def test_each_recorded_event_parses(path):
    for chunks in recorded_frames(path).values():
        for frame in FrameParser().feed(b"".join(chunks)):
            if frame.content_type.startswith("text/event"):
                event = parse_event(frame)
                assert event.name
                assert len(event.headers["Core-UUID"]) == 36
                assert int(event.headers["Event-Sequence"]) > 0


def test_plain_events_decode_to_what_freeswitch_itself_rendered_as_json():
    """The recordings hold many events twice, seen by a plain and a json subscriber at once. JSON values are
    not URL-encoded, so a percent-decoded plain event must equal its JSON twin header for header."""
    by_identity: dict[tuple, dict[str, list[EslEvent]]] = defaultdict(lambda: defaultdict(list))
    for path in TRANSCRIPTS:
        for chunks in recorded_frames(path).values():
            for frame in FrameParser().feed(b"".join(chunks)):
                if frame.content_type in ("text/event-plain", "text/event-json"):
                    event = parse_event(frame)
                    # chatplan `fire` copies share Event-Sequence; their header sets differ
                    identity = (
                        event.headers["Event-Sequence"],
                        event.name,
                        event.subclass,
                        frozenset(event.headers),
                    )
                    by_identity[identity][frame.content_type].append(event)
    compared = 0
    for renderings in by_identity.values():
        for plain in renderings["text/event-plain"]:
            for rendered_as_json in renderings["text/event-json"]:
                assert plain.headers == rendered_as_json.headers
                assert plain.body == rendered_as_json.body
                compared += 1
    assert compared >= 100


def test_registration_event_values_are_percent_decoded():
    register = next(
        e
        for e in recorded_events("02a-register-unregister-expire-events-plain.jsonl", "plain-listener")
        if e.subclass == "sofia::register"
    )
    assert register.name == "CUSTOM"
    assert register.headers["contact"] == '"" <sip:1001@127.0.0.1:5081>'
    assert register.headers["call-id"] == "7z06or6sn2vmr1c2@127.0.0.1"
    assert register.headers["Event-Date-GMT"] == "Fri, 27 Nov 2026 04:30:01 GMT"
    assert register.headers["effective_caller_id_name"] == "Ext 1001"
    assert register.headers["expires"] == "3600"
    assert register.body == ""


def test_phone_message_body_is_utf8_and_plus_signs_survive():
    message = next(
        e
        for e in recorded_events("05d-phone-message-utf8-xheaders-multipart-plain.jsonl", "plain-listener")
        if e.name == "MESSAGE"
    )
    assert message.body == "Héllo fröm 1001 ✓ 😀 ñ\nline two"
    assert message.headers["to_user"] == "+15557654321"
    assert message.headers["from_full"].startswith("<sip:1001@pbx.test>;tag=")
    assert message.headers["sip_h_X-Client-Msg-Id"] == "m-0001"
    assert message.headers["Content-Length"] == str(len(message.body.encode()))


def test_multipart_body_keeps_its_crlf_lines():
    multipart = next(
        e
        for e in recorded_events("05d-phone-message-utf8-xheaders-multipart-json.jsonl", "json-listener")
        if e.headers.get("type") == "multipart/mixed"
    )
    assert multipart.body.startswith("--b1\r\nContent-Type: text/plain\r\n\r\nSee picture\r\n")
    assert multipart.body.endswith("\r\n--b1--\r\n")
    assert "_body" not in multipart.headers


def test_stale_inner_content_length_without_body():
    """SMS::DELIVERY_REPORT copies the request's headers, Content-Length included, but has no body."""
    reports = [
        e
        for e in recorded_events("04i-sendevent-send-message-basic.jsonl", "events-plain")
        if e.subclass == "SMS::DELIVERY_REPORT"
    ]
    assert len(reports) == 5
    first = reports[0]
    assert first.headers["Status"] == "Accepted"
    assert first.headers["Content-Length"] == "35"
    assert first.body == ""
    assert first.headers["Event-Sequence"] == "643"  # its own, not the copied request's 642
    assert first.headers["Command"] == "sendevent CUSTOM"


def test_event_with_two_content_length_headers_and_a_body():
    echoes = [
        e
        for e in recorded_events("04i-sendevent-send-message-basic.jsonl", "events-plain")
        if e.subclass == "SMS::SEND_MESSAGE"
    ]
    assert echoes[0].body == "Hello via SEND_MESSAGE proto=global"
    assert echoes[0].headers["Content-Length"] == "35"


def test_command_replies_api_responses_and_background_jobs():
    frames = recorded_stream("07a-bgapi-background-job-and-errors.jsonl", "cmd")
    bgapi_reply = next(
        f for f in frames if "11111111-2222-3333-4444-555555555555" in f.headers.get("Job-UUID", "")
    )
    assert bgapi_reply.content_type == "command/reply"
    assert bgapi_reply.reply_text == "+OK Job-UUID: 11111111-2222-3333-4444-555555555555"
    jobs = [parse_event(f) for f in frames if f.content_type.startswith("text/event")]
    version = next(j for j in jobs if j.headers["Job-UUID"] == "11111111-2222-3333-4444-555555555555")
    assert version.name == "BACKGROUND_JOB"
    assert version.body == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    missing = next(j for j in jobs if j.headers.get("Job-Command") == "no_such_command")
    assert missing.body == "-ERR no_such_command Command not found!\n"
    assert missing.headers["Job-Command-Arg"] == "foo"
    as_json = next(j for j in jobs if j.headers.get("Job-Command") == "sofia_contact")
    assert as_json.body == "error/user_not_registered"
    api_bodies = [f.body for f in frames if f.content_type == "api/response"]
    assert b"pbx.test" in api_bodies
    assert frames[-1].content_type == "text/disconnect-notice"
    assert frames[-1].body == b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def test_shutdown_notice_body_is_consumed():
    recording = TRANSCRIPT_DIR / "07b-freeswitch-shutdown-as-seen-by-esl-clients.jsonl"
    for chunks in recorded_frames(recording).values():
        last = FrameParser().feed(b"".join(chunks))[-1]
        assert last.content_type == "text/disconnect-notice"
        assert last.body == b"The system is being shut down.\n"


# --- hand-built frames: the greenswitch defects of SPEC §5.3 ---


def plain_event(headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """An event-plain frame laid out as mod_event_socket writes it (header values given URL-encoded)."""
    inner = "".join(f"{name}: {value}\n" for name, value in headers).encode()
    inner += f"Content-Length: {len(body)}\n\n".encode() + body if body else b"\n"
    return f"Content-Length: {len(inner)}\nContent-Type: text/event-plain\n\n".encode() + inner


MESSAGE_HEADERS = [
    ("Event-Name", "MESSAGE"),
    ("Core-UUID", "core-1"),
    ("Event-Sequence", "17"),
    ("proto", "sip"),
    ("from_user", "1001"),
    ("to_user", "%2B15557654321"),
]


def test_body_lines_that_look_like_headers_stay_in_the_body():
    body = b"Event-Name: HEARTBEAT\nto_user: 911\n\nContent-Length: 3\n\nEvent-Sequence: 1"
    event = parse_event(one_frame(plain_event(MESSAGE_HEADERS, body)))
    assert event.name == "MESSAGE"
    assert event.headers["to_user"] == "+15557654321"
    assert event.headers["Event-Sequence"] == "17"
    assert event.body == body.decode()


def test_body_is_never_percent_decoded_and_plus_is_not_a_space():
    event = parse_event(one_frame(plain_event([*MESSAGE_HEADERS, ("subject", "a+b%20c%25")], b"100%25 a+b")))
    assert event.headers["subject"] == "a+b c%"
    assert event.body == "100%25 a+b"


def test_header_values_decode_separately():
    """A Latin-1 byte in one header value does not change how another is decoded."""
    event = parse_event(one_frame(plain_event([*MESSAGE_HEADERS, ("a", "caf%E9"), ("b", "%E2%9C%93")])))
    assert event.headers["a"] == "café"
    assert event.headers["b"] == "✓"


def test_non_utf8_body_does_not_stop_the_stream():
    latin1 = plain_event(MESSAGE_HEADERS, "Grüße, café".encode("latin-1"))
    broken = plain_event(MESSAGE_HEADERS, b"\x81\x8d\xff bytes")
    after = plain_event([("Event-Name", "HEARTBEAT"), ("Core-UUID", "core-1")])
    frames = FrameParser().feed(latin1 + broken + after)
    events = [parse_event(frame) for frame in frames]
    assert events[0].body == "Grüße, café"
    assert events[1].body == "\x81\x8d\xff bytes"
    assert events[2].name == "HEARTBEAT"


def test_decode_text_prefers_utf8():
    assert decode_text("Grüße 😀".encode()) == "Grüße 😀"
    assert decode_text(b"\x93quoted\x94") == "\u201cquoted\u201d"


def test_frames_split_at_every_byte():
    reply = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    stream = plain_event(MESSAGE_HEADERS, "Hello ✓\n\nbye".encode()) + reply
    parser = FrameParser()
    frames = [frame for index in range(len(stream)) for frame in parser.feed(stream[index : index + 1])]
    assert [frame.content_type for frame in frames] == ["text/event-plain", "command/reply"]
    assert parse_event(frames[0]).body == "Hello ✓\n\nbye"
    assert frames[1].reply_text == "+OK"


def test_partial_frame_waits_for_the_rest():
    frame = plain_event(MESSAGE_HEADERS, b"body")
    parser = FrameParser()
    assert parser.feed(frame[:-1]) == []
    assert len(parser.feed(frame[-1:])) == 1


def test_json_event_body_and_invalid_utf8():
    payload = (
        b'{"Event-Name":"MESSAGE","Core-UUID":"c","Event-Sequence":"5","to_user":"+1555",'
        b'"Content-Length":"4","_body":"caf\xe9"}'
    )
    frame = one_frame(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(payload) + payload)
    event = parse_event(frame)
    assert event.body == "café"
    assert event.headers["to_user"] == "+1555"
    assert "_body" not in event.headers


def test_json_array_header_reads_like_the_plain_form():
    payload = b'{"Event-Name":"CUSTOM","Event-Subclass":"x::y","list":["a","b c"]}'
    event = parse_event(
        one_frame(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(payload) + payload)
    )
    assert event.headers["list"] == "ARRAY::a|:b c"


def test_xml_event():
    """Layout of switch_event_serialize_xml: URL-encoded header values, XML-escaped body."""
    payload = (
        b"<event><headers><Event-Name>MESSAGE</Event-Name><to_user>%2B15557654321</to_user>"
        b"<subject>SIMPLE%20MESSAGE</subject></headers>"
        b"<Content-Length>9</Content-Length><body>a &lt;b&gt; &amp;</body></event>"
    )
    event = parse_event(
        one_frame(b"Content-Length: %d\nContent-Type: text/event-xml\n\n" % len(payload) + payload)
    )
    assert event.name == "MESSAGE"
    assert event.headers["to_user"] == "+15557654321"
    assert event.headers["subject"] == "SIMPLE MESSAGE"
    assert event.body == "a <b> &"


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("text/event-json", b"[1, 2]"),
        ("text/event-json", b"{not json"),
        ("text/event-xml", b"<event><headers>"),
    ],
)
def test_unreadable_event_bodies_raise_value_error(content_type, payload):
    frame = one_frame(f"Content-Length: {len(payload)}\nContent-Type: {content_type}\n\n".encode() + payload)
    with pytest.raises(ValueError):
        parse_event(frame)


def test_non_event_frame_is_not_an_event():
    with pytest.raises(ValueError):
        parse_event(one_frame(b"Content-Type: command/reply\nReply-Text: +OK\n\n"))


def test_disconnect_notice_body_is_consumed():
    text = b"killed listener because of lost events\n"
    notice = b"Content-Type: text/disconnect-notice\nContent-Length: 39\n\n" + text
    frames = FrameParser().feed(notice + b"Content-Type: auth/request\n\n")
    assert frames[0].body == text
    assert frames[1].content_type == "auth/request"


@pytest.mark.parametrize("length", [b"-1", b"12x", b""])
def test_invalid_content_length_breaks_the_stream(length):
    with pytest.raises(FrameError):
        FrameParser().feed(b"Content-Type: api/response\nContent-Length: " + length + b"\n\nbody")


def test_endless_header_block_breaks_the_stream():
    parser = FrameParser()
    with pytest.raises(FrameError):
        for _ in range(2048):
            parser.feed(b"X-Header: " + b"v" * 1000 + b"\n")
