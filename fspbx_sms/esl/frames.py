"""ESL wire format: split the byte stream into frames, and read events out of event frames.

Works on bytes throughout. The header block ends at the first blank line; the body is exactly the
outer ``Content-Length`` bytes. Event headers are percent-decoded one value at a time, and text is
decoded with a fallback, so a body can never be mistaken for headers and odd bytes never stop reading.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

#: A header block larger than this is not ESL; the stream is treated as broken.
MAX_HEADER_BLOCK = 1024 * 1024

_BLANK_LINE = b"\n\n"


class FrameError(Exception):
    """The byte stream does not follow ESL framing; the connection cannot be read any further."""


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-8, else Windows-1252, else Latin-1 (which accepts every byte)."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def percent_decode(value: bytes | str) -> str:
    """Undo FreeSWITCH's URL encoding of one header value (``%XX`` only; ``+`` stays a plus)."""
    return decode_text(unquote_to_bytes(value))


def _first_wins(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    # A repeated header (events made by ``sendevent`` copy the request's headers after their own) keeps
    # its first value, as FreeSWITCH's own switch_event_get_header() does.
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name, value)
    return headers


def _header_block(block: bytes, decode_value: Callable[[bytes], str]) -> dict[str, str]:
    """The ``Name: value`` lines of a header block as a dict; lines without a colon are skipped."""
    pairs = []
    for line in block.split(b"\n"):
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if colon and name.strip():
            pairs.append((decode_text(name.strip()), decode_value(value.lstrip(b" "))))
    return _first_wins(pairs)


@dataclass(frozen=True)
class Frame:
    """One frame FreeSWITCH sent: its outer headers (as written, not URL-encoded) and its raw body."""

    headers: dict[str, str]
    body: bytes = field(default=b"", repr=False)

    @property
    def content_type(self) -> str:
        """The frame's ``Content-Type`` (``command/reply``, ``text/event-plain``, ...)."""
        return self.headers.get("Content-Type", "")

    @property
    def reply_text(self) -> str:
        """``Reply-Text`` of a ``command/reply`` frame."""
        return self.headers.get("Reply-Text", "")


class FrameParser:
    """Incremental frame splitter: feed bytes as they arrive, get every completed frame back."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._headers: dict[str, str] | None = None
        self._body_length = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames they complete (possibly none). Raises :class:`FrameError`."""
        self._buffer += data
        frames = []
        while (frame := self._next_frame()) is not None:
            frames.append(frame)
        return frames

    def _next_frame(self) -> Frame | None:
        if self._headers is None and not self._read_header_block():
            return None
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[: self._body_length])
        del self._buffer[: self._body_length]
        frame = Frame(self._headers or {}, body)
        self._headers = None
        return frame

    def _read_header_block(self) -> bool:
        while self._buffer.startswith(b"\n"):
            del self._buffer[:1]
        end = self._buffer.find(_BLANK_LINE)
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BLOCK:
                raise FrameError(f"no end of header block within {MAX_HEADER_BLOCK} bytes")
            return False
        block = bytes(self._buffer[:end])
        del self._buffer[: end + len(_BLANK_LINE)]
        headers = _header_block(block, decode_text)
        length = headers.get("Content-Length", "0")
        if not length.isdigit():
            raise FrameError(f"invalid Content-Length {length[:20]!r}")
        self._headers = headers
        self._body_length = int(length)
        return True


@dataclass(frozen=True)
class EslEvent:
    """One FreeSWITCH event: its headers (decoded) and its body text."""

    headers: dict[str, str]
    body: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        """``Event-Name`` (``MESSAGE``, ``CUSTOM``, ``BACKGROUND_JOB``, ...)."""
        return self.headers.get("Event-Name", "")

    @property
    def subclass(self) -> str:
        """``Event-Subclass`` of a CUSTOM event (``sofia::register``, ...), else empty."""
        return self.headers.get("Event-Subclass", "")


def parse_event(frame: Frame) -> EslEvent:
    """Read the event in a ``text/event-plain``, ``-json`` or ``-xml`` frame. Raises ``ValueError``."""
    if frame.content_type == "text/event-plain":
        return _parse_plain(frame.body)
    if frame.content_type == "text/event-json":
        return _parse_json(frame.body)
    if frame.content_type == "text/event-xml":
        return _parse_xml(frame.body)
    raise ValueError(f"not an event frame: {frame.content_type!r}")


def _parse_plain(data: bytes) -> EslEvent:
    # The event body follows the event's own header block. FreeSWITCH writes an inner Content-Length
    # line before it, but events made by ``sendevent`` may carry a second, stale Content-Length header
    # (and SMS::DELIVERY_REPORT one without any body), so the body is simply the rest of the frame.
    block, _, body = data.partition(_BLANK_LINE)
    return EslEvent(_header_block(block, percent_decode), decode_text(body))


def _json_header_value(value: object) -> str:
    # Array headers: JSON lists here, ``ARRAY::a|:b`` in plain events; keep the plain form.
    if isinstance(value, list):
        return "ARRAY::" + "|:".join(str(item) for item in value)
    return value if isinstance(value, str) else str(value)


class _JsonPairs(list):
    """The (key, value) pairs of one JSON object in order, repeated keys included."""


def _parse_json(data: bytes) -> EslEvent:
    fields = json.loads(decode_text(data), object_pairs_hook=_JsonPairs)
    if not isinstance(fields, _JsonPairs):
        raise ValueError("event-json body is not a JSON object")
    headers = _first_wins((name, _json_header_value(value)) for name, value in fields)
    return EslEvent(headers, headers.pop("_body", ""))


def _parse_xml(data: bytes) -> EslEvent:
    try:
        root = ElementTree.fromstring(decode_text(data))
    except ElementTree.ParseError as err:
        raise ValueError(f"event-xml body is not XML: {err}") from err
    headers_element = root.find("headers")
    headers = {}
    if headers_element is not None:
        headers = _first_wins((child.tag, percent_decode(child.text or "")) for child in headers_element)
    return EslEvent(headers, root.findtext("body") or "")
