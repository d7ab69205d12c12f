"""FreeSWITCH events as the event socket sends them: ordered headers, an optional body, and the three wire
formats (``plain``, ``json``, ``xml``) of ``switch_event.c``.

Header values are ``str`` holding the original bytes (UTF-8, undecodable bytes kept as surrogate escapes) so
that any byte a client or a phone sent goes back out unchanged.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

#: Every event name ``switch_name_event`` knows (FreeSWITCH 1.10), in the order of ``EVENT_NAMES``.
EVENT_NAMES = (
    "CUSTOM",
    "CLONE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "API",
    "LOG",
    "INBOUND_CHAN",
    "OUTBOUND_CHAN",
    "STARTUP",
    "SHUTDOWN",
    "PUBLISH",
    "UNPUBLISH",
    "TALK",
    "NOTALK",
    "SESSION_CRASH",
    "MODULE_LOAD",
    "MODULE_UNLOAD",
    "DTMF",
    "MESSAGE",
    "PRESENCE_IN",
    "NOTIFY_IN",
    "PRESENCE_OUT",
    "PRESENCE_PROBE",
    "MESSAGE_WAITING",
    "MESSAGE_QUERY",
    "ROSTER",
    "CODEC",
    "BACKGROUND_JOB",
    "DETECTED_SPEECH",
    "DETECTED_TONE",
    "PRIVATE_COMMAND",
    "HEARTBEAT",
    "TRAP",
    "ADD_SCHEDULE",
    "DEL_SCHEDULE",
    "EXE_SCHEDULE",
    "RE_SCHEDULE",
    "RELOADXML",
    "NOTIFY",
    "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE",
    "RECV_MESSAGE",
    "REQUEST_PARAMS",
    "CHANNEL_DATA",
    "GENERAL",
    "COMMAND",
    "SESSION_HEARTBEAT",
    "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED",
    "SEND_INFO",
    "RECV_INFO",
    "RECV_RTCP_MESSAGE",
    "SEND_RTCP_MESSAGE",
    "CALL_SECURE",
    "NAT",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CALL_UPDATE",
    "FAILURE",
    "SOCKET_DATA",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA",
    "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT",
    "CALL_DETAIL",
    "DEVICE_STATE",
    "TEXT",
    "SHUTDOWN_REQUESTED",
    "ALL",
)

# Events of these types keep one header per name (switch_event.c sets EF_UNIQ_HEADERS for them).
_UNIQUE_HEADER_EVENTS = frozenset({"MESSAGE", "CHANNEL_DATA", "REQUEST_PARAMS"})

_URL_UNSAFE = frozenset(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_UPPER_HEX = frozenset(b"0123456789ABCDEF")
_TRUE_WORDS = frozenset({"yes", "on", "true", "t", "enabled", "active", "allow"})
_JSON_SHORT_ESCAPES = {
    0x22: b'\\"',
    0x5C: b"\\\\",
    0x08: b"\\b",
    0x0C: b"\\f",
    0x0A: b"\\n",
    0x0D: b"\\r",
    0x09: b"\\t",
}


def to_bytes(text: str) -> bytes:
    """The bytes a header value or command text stands for (inverse of :func:`from_bytes`)."""
    return text.encode("utf-8", "surrogateescape")


def from_bytes(data: bytes) -> str:
    """Bytes from the wire as ``str``, lossless for any byte sequence."""
    return data.decode("utf-8", "surrogateescape")


def name_event(word: str) -> str | None:
    """``switch_name_event``: the event name ``word`` stands for (case-insensitive, ``SWITCH_EVENT_`` prefix
    allowed), or ``None``."""
    for name in EVENT_NAMES:
        if word.upper() == name or (len(word) > 13 and word[13:].upper() == name):
            return name
    return None


def url_encode(value: bytes) -> bytes:
    """``switch_url_encode``: ``%XX`` for control bytes, bytes above 0x7E and the unsafe set; a ``%`` already
    followed by two uppercase hex digits is left alone."""
    out = bytearray()
    for index, byte in enumerate(value):
        if (
            byte == 0x25
            and index + 2 < len(value)
            and value[index + 1] in _UPPER_HEX
            and value[index + 2] in _UPPER_HEX
        ):
            out.append(byte)
        elif byte < 0x20 or byte > 0x7E or byte in _URL_UNSAFE:
            out += b"%%%02X" % byte
        else:
            out.append(byte)
    return bytes(out)


def json_string(value: bytes) -> bytes:
    """A JSON string the way cJSON prints it: raw bytes, only quote, backslash and control bytes escaped."""
    out = bytearray(b'"')
    for byte in value:
        if byte in _JSON_SHORT_ESCAPES:
            out += _JSON_SHORT_ESCAPES[byte]
        elif byte < 0x20:
            out += b"\\u%04x" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


def xml_text(value: bytes) -> bytes:
    """Character data escaped like ``switch_xml_ampencode``."""
    return value.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")


@dataclass
class Event:
    """One FreeSWITCH event: its type, its CUSTOM subclass, its headers in order and its body."""

    name: str
    subclass: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None

    def add(self, header: str, value: str | None) -> None:
        """``switch_event_add_header_string``: append. ``None`` adds nothing; an empty value deletes the
        header instead; ``_body`` also sets the body; MESSAGE-type events replace a same-named header."""
        if value is None:
            return
        if header == "_body":
            self.set_body(to_bytes(value))
        if self.name in _UNIQUE_HEADER_EVENTS or value == "":
            self.delete(header)
        if value != "":
            self.headers.append((header, value))

    def get(self, header: str) -> str | None:
        """``switch_event_get_header``: the first value of ``header`` (case-insensitive), or ``None``."""
        wanted = header.lower()
        return next((value for name, value in self.headers if name.lower() == wanted), None)

    def delete(self, header: str) -> None:
        """Remove every header called ``header`` (case-insensitive)."""
        wanted = header.lower()
        self.headers = [(name, value) for name, value in self.headers if name.lower() != wanted]

    def is_true(self, header: str) -> bool:
        """``switch_true`` on a header value."""
        value = (self.get(header) or "").lower()
        return value in _TRUE_WORDS or (value.isdigit() and int(value) != 0)

    def set_body(self, body: bytes) -> None:
        """``switch_event_add_body``: the body is a C string, so it ends at the first NUL byte."""
        self.body = body.split(b"\0", 1)[0]

    def dup(self) -> Event:
        """``switch_event_dup``: an independent copy (same Event-Sequence)."""
        return Event(self.name, self.subclass, list(self.headers), self.body)

    def plain(self) -> bytes:
        """``switch_event_serialize``: URL-encoded header lines, ``_undef_`` for empty values, then the body
        behind its own ``Content-Length``."""
        lines = [
            to_bytes(name) + b": " + (url_encode(to_bytes(value)) or b"_undef_") + b"\n"
            for name, value in self.headers
        ]
        if self.body:
            lines.append(b"Content-Length: %d\n\n" % len(self.body) + self.body)
        else:
            lines.append(b"\n")
        return b"".join(lines)

    def json(self) -> bytes:
        """``switch_event_serialize_json``: one object, every value a string, duplicates kept, the body under
        ``_body`` after a ``Content-Length`` key."""
        members = [
            json_string(to_bytes(name)) + b":" + json_string(to_bytes(value)) for name, value in self.headers
        ]
        if self.body is not None:
            members.append(b'"Content-Length":' + json_string(b"%d" % len(self.body)))
            members.append(b'"_body":' + json_string(self.body))
        return b"{" + b",".join(members) + b"}"

    def xml(self) -> bytes:
        """``switch_event_xmlize`` + ``switch_xml_toxml``: URL-encoded header elements, then the body."""
        lines = [b"<event>", b"  <headers>"]
        lines += [
            b"    <%s>%s</%s>" % (to_bytes(name), xml_text(url_encode(to_bytes(value))), to_bytes(name))
            for name, value in self.headers
        ]
        lines.append(b"  </headers>")
        if self.body:
            lines.append(b"  <Content-Length>%d</Content-Length>" % len(self.body))
            lines.append(b"  <body>" + xml_text(self.body) + b"</body>")
        lines.append(b"</event>")
        return b"\n".join(lines)

    def serialize(self, event_format: str) -> bytes:
        """The event body for a listener in ``event_format`` (``plain``, ``json`` or ``xml``)."""
        return {"plain": self.plain, "json": self.json, "xml": self.xml}[event_format]()


@dataclass(frozen=True)
class Origin:
    """Where FreeSWITCH says an event was created (``Event-Calling-File/Function/Line-Number``)."""

    file: str
    function: str
    line: int


@dataclass
class Switch:
    """The identity every event carries (core UUID, host names, addresses) and the event sequence counter."""

    core_uuid: str
    hostname: str
    ipv4: str
    ipv6: str
    sequence: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stamp(self, event: Event, origin: Origin) -> None:
        """Append the standard headers ``switch_event_prep_for_delivery`` adds, with the next sequence."""
        moment = time.time()
        with self._lock:
            self.sequence += 1
            sequence = self.sequence
        event.add("Event-Name", event.name)
        event.add("Core-UUID", self.core_uuid)
        event.add("FreeSWITCH-Hostname", self.hostname)
        event.add("FreeSWITCH-Switchname", self.hostname)
        event.add("FreeSWITCH-IPv4", self.ipv4)
        event.add("FreeSWITCH-IPv6", self.ipv6)
        event.add("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)))
        event.add("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(moment)))
        event.add("Event-Date-Timestamp", str(int(moment * 1_000_000)))
        event.add("Event-Calling-File", origin.file)
        event.add("Event-Calling-Function", origin.function)
        event.add("Event-Calling-Line-Number", str(origin.line))
        event.add("Event-Sequence", str(sequence))

    def create(self, name: str, origin: Origin, subclass: str | None = None) -> Event:
        """``switch_event_create[_subclass]``: a new event, ``Event-Subclass`` first, then the standard
        headers."""
        event = Event(name, subclass)
        if subclass is not None:
            event.add("Event-Subclass", subclass)
        self.stamp(event, origin)
        return event
