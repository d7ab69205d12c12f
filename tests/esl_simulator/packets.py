"""How mod_event_socket cuts the client's byte stream into commands (``read_packet``).

Leading CR/LF before a command are skipped; a command ends at the second LF counted since the last
byte that was neither CR nor LF (``\\n\\n``, ``\\r\\n\\r\\n``); the first line is the command, later
``Name: value`` lines are headers (value after the first colon, leading spaces dropped, no URL-decoding,
lines without a colon ignored); a ``Content-Length`` header makes the server read exactly that many body
bytes right after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.esl_simulator.events import from_bytes

_LINE_BREAKS = re.compile(rb"[\r\n]+")
_LEADING_INT = re.compile(rb"\s*([+-]?\d+)")


@dataclass(frozen=True)
class Command:
    """One command as the server read it."""

    #: The first line (what ``parse_command`` matches on), without its line end.
    line: str
    #: The ``Name: value`` lines that followed, in order.
    headers: tuple[tuple[str, str], ...]
    #: The bytes read because of a ``Content-Length`` header, or ``None``.
    body: bytes | None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def _c_atoi(text: bytes) -> int:
    match = _LEADING_INT.match(text)
    return int(match.group(1)) if match else 0


class CommandReader:
    """Accumulates received bytes and hands out complete commands."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def partial(self) -> bool:
        """Whether part of a command has been received (FreeSWITCH sends no events meanwhile)."""
        return bool(self._buffer.lstrip(b"\r\n"))

    def feed(self, data: bytes) -> None:
        """Add bytes read from the socket."""
        self._buffer += data

    def next_command(self) -> Command | None:
        """The next complete command, or ``None`` until more bytes arrive."""
        start = len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))
        line_feeds = 0
        end = None
        for position in range(start, len(self._buffer)):
            byte = self._buffer[position]
            if byte == 0x0A:
                line_feeds += 1
            elif byte != 0x0D:
                line_feeds = 0
            if line_feeds == 2:
                end = position + 1
                break
        if end is None:
            return None
        lines = [line for line in _LINE_BREAKS.split(bytes(self._buffer[start:end])) if line]
        body_length = 0
        headers: list[tuple[str, str]] = []
        for raw in lines[1:]:
            name, colon, value = raw.partition(b":")
            if not colon:
                continue
            headers.append((from_bytes(name), from_bytes(value.lstrip(b" "))))
            if name.lower() == b"content-length" and _c_atoi(value) > 0 and not body_length:
                body_length = _c_atoi(value)
        if len(self._buffer) < end + body_length:
            return None
        body = bytes(self._buffer[end : end + body_length]) if body_length else None
        del self._buffer[: end + body_length]
        return Command(from_bytes(lines[0]), tuple(headers), body)
