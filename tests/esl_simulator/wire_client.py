"""A bare event-socket client for the simulator's own tests: a real TCP socket, whole frames out.

It knows only the ESL framing (header block up to the first empty line, then ``Content-Length`` body bytes)
and how to read an event's own headers; it is not our client and shares no code with ``fspbx_sms.esl``.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes


@dataclass(frozen=True)
class WireFrame:
    """One frame as received: its outer headers in order, its body, and the exact bytes."""

    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        """The first outer header called ``name``."""
        return next((value for key, value in self.headers if key == name), None)

    @property
    def content_type(self) -> str:
        """The frame's ``Content-Type``."""
        return self.header("Content-Type") or ""

    @property
    def reply(self) -> str | None:
        """``Reply-Text`` of a ``command/reply``."""
        return self.header("Reply-Text")


@dataclass(frozen=True)
class WireEvent:
    """An event frame's payload: headers (decoded) in order, duplicates kept, and its body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes | None

    def get(self, name: str) -> str | None:
        """The first header called ``name``."""
        return next((value for key, value in self.headers if key == name), None)

    def names(self) -> list[str]:
        """Header names in order."""
        return [key for key, _ in self.headers]


def split_frame(data: bytes) -> WireFrame:
    """Parse one complete frame."""
    head, _, rest = data.partition(b"\n\n")
    headers = tuple(
        (name.decode(), value.decode("utf-8", "surrogateescape"))
        for name, _, value in (line.partition(b": ") for line in head.split(b"\n"))
    )
    length = next((int(value) for name, value in headers if name == "Content-Length"), 0)
    return WireFrame(headers, rest[:length], data)


def parse_event(frame: WireFrame) -> WireEvent:
    """The event inside a ``text/event-plain`` or ``text/event-json`` frame."""
    if frame.content_type == "text/event-json":
        pairs = json.loads(frame.body.decode("utf-8", "surrogateescape"), object_pairs_hook=list)
        headers = tuple((key, value) for key, value in pairs if key != "_body")
        body = next(
            (value.encode("utf-8", "surrogateescape") for key, value in pairs if key == "_body"), None
        )
        return WireEvent(headers, body)
    head, _, rest = frame.body.partition(b"\n\n")
    headers = tuple(
        (name.decode(), unquote_to_bytes(value).decode("utf-8", "surrogateescape"))
        for name, _, value in (line.partition(b": ") for line in head.split(b"\n") if line)
    )
    # The inner Content-Length is the last header when the event has a body.
    length = int(headers[-1][1]) if rest and headers and headers[-1][0] == "Content-Length" else 0
    return WireEvent(headers, rest[:length] if length else None)


class WireClient:
    """A socket to the event socket that writes raw bytes and reads whole frames."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self._buffer = b""

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def send(self, data: bytes | str) -> None:
        """Write bytes as they are."""
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def command(self, text: str) -> WireFrame:
        """Send ``text`` + blank line and return the next frame."""
        self.send(text + "\n\n")
        return self.frame()

    def frame(self) -> WireFrame:
        """The next complete frame (``TimeoutError`` after ``timeout`` seconds, ``EOFError`` on close)."""
        deadline = time.monotonic() + self.timeout
        while True:
            head_end = self._buffer.find(b"\n\n")
            if head_end >= 0:
                frame = split_frame(self._buffer)
                total = head_end + 2 + int(frame.header("Content-Length") or 0)
                if len(self._buffer) >= total:
                    data, self._buffer = self._buffer[:total], self._buffer[total:]
                    return split_frame(data)
            self._receive(deadline)

    def event(self) -> WireEvent:
        """The next frame, which must be an event."""
        frame = self.frame()
        assert frame.content_type.startswith("text/event-"), frame.raw
        return parse_event(frame)

    def closed_by_server(self) -> bool:
        """Whether the server closes the connection with no further frame (waits up to ``timeout``)."""
        try:
            self._receive(time.monotonic() + self.timeout)
        except EOFError:
            return self._buffer == b""
        return False

    def _receive(self, deadline: float) -> None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError as error:
            raise EOFError("connection reset") from error
        if not data:
            raise EOFError("connection closed")
        self._buffer += data

    def login(self, password: str = "ClueCon") -> None:
        """Read the greeting and authenticate."""
        assert self.frame().content_type == "auth/request"
        assert self.command(f"auth {password}").reply == "+OK accepted"
