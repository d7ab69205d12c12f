"""One inbound event-socket connection, handled like mod_event_socket's ``listener_run`` + ``parse_command``:
auth, ``event``/``nixevent``/``noevents`` subscriptions, filters, ``api``/``bgapi``/``sendevent`` and the
exact reply texts, with events written only while no command is being read or executed."""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from tests.esl_simulator.events import EVENT_NAMES, Event, name_event, to_bytes
from tests.esl_simulator.packets import Command, CommandReader

#: Sent before closing after ``exit``, a failed auth or a read timeout.
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
#: Seconds FreeSWITCH waits for the first command of a new connection.
AUTH_TIMEOUT = 25.0
_RECV_SIZE = 65536
_LOG_LEVELS = ("CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")
_LOG_INVALID = 64
_ALL_BUT_ALL = frozenset(EVENT_NAMES) - {"ALL"}
# The channel events ``myevents`` subscribes to.
_MYEVENTS_NAMES = frozenset((
    "CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE", "CHANNEL_DATA",
    "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_OUTGOING", "CHANNEL_PARK",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE", "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK",
    "DETECTED_SPEECH", "DTMF", "NOTALK", "TALK",
))  # fmt: skip


def reply_frame(text: str) -> bytes:
    """A ``command/reply`` frame."""
    return b"Content-Type: command/reply\nReply-Text: " + to_bytes(text) + b"\n\n"


def api_frame(output: bytes) -> bytes:
    """An ``api/response`` frame."""
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(output) + output


def event_frame(event: Event, event_format: str) -> bytes:
    """An event as sent to a listener: ``Content-Length`` first, then ``Content-Type``."""
    data = event.serialize(event_format)
    return b"Content-Length: %d\nContent-Type: text/event-%s\n\n" % (len(data), event_format.encode()) + data


def disconnect_frame(message: bytes) -> bytes:
    """A ``text/disconnect-notice`` frame (inbound connections have no session headers)."""
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(message) + message


def log_level(word: str) -> int:
    """``switch_log_str2level``: a level name or number (``64`` = invalid)."""
    if word.isdigit():
        return int(word) if int(word) <= _LOG_INVALID else _LOG_INVALID - 1
    return next((index for index, name in enumerate(_LOG_LEVELS) if name == word.upper()), _LOG_INVALID)


class Switchboard(Protocol):
    """What a connection needs from the simulated FreeSWITCH."""

    password: str

    def note_command(self, line: str) -> str | None:
        """Record a command; return the fault to inject for it, if one is armed."""

    def api_output(self, command: str, arg: str | None, *, background: bool) -> bytes:
        """The output of an API command as ``api_exec`` returns it."""

    def start_background_job(self, job_uuid: str, command: str, arg: str | None) -> None:
        """Run an API command in its own thread and fire ``BACKGROUND_JOB`` with its output."""

    def inject_event(self, command: Command) -> str:
        """``sendevent``: build the event from the command, fire it, return its ``Event-UUID``."""

    def new_uuid(self) -> str:
        """A fresh UUID string."""

    def forget(self, listener: Listener) -> None:
        """The connection is gone: stop sending it events."""


@dataclass
class Subscription:
    """Which events a listener receives (``event``, ``nixevent``, ``noevents``, ``filter``)."""

    enabled: bool = False
    event_format: str = "plain"
    names: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    #: ``myevents`` without a session: only events carrying a ``Unique-ID`` header.
    channel_events_only: bool = False

    def wants(self, event: Event) -> bool:
        """``event_handler``: subscribed by name (and subclass for CUSTOM), then the filters."""
        if not self.enabled or (self.channel_events_only and event.get("Unique-ID") is None):
            return False
        if "ALL" not in self.names and not (
            event.name in self.names
            and (event.name != "CUSTOM" or event.subclass is None or event.subclass in self.subclasses)
        ):
            return False
        return self._passes_filters(event)

    def _passes_filters(self, event: Event) -> bool:
        if not self.filters:
            return True
        send = False
        for name, raw in self.filters:
            value = event.get(name)
            if value is None:
                continue
            positive = True
            compare = raw
            while compare and compare[0] in "+- ":
                positive = {"+": True, "-": False}.get(compare[0], positive)
                compare = compare[1:]
            if send and positive:
                continue
            matched = (
                _regex_matches(value, compare) if raw.startswith("/") else value.lower() == compare.lower()
            )
            if matched:
                if not positive:
                    return False
                send = True
        return send


def _regex_matches(value: str, expression: str) -> bool:
    """``switch_regex_perform`` with a ``/regex/flags`` expression."""
    pattern, slash, options = expression[1:].rpartition("/")
    if not slash:
        return False
    flags = (re.IGNORECASE if "i" in options else 0) | (re.DOTALL if "s" in options else 0)
    try:
        return re.search(pattern, value, flags) is not None
    except re.error:
        return False


class Listener:
    """A client connection and the thread that serves it."""

    def __init__(self, sock: socket.socket, switchboard: Switchboard) -> None:
        self.subscription = Subscription()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._board = switchboard
        self._reader = CommandReader()
        self._authed = False
        self._logging = False
        self._myevents = False
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._send_lock = threading.RLock()
        self._dead = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="esl-sim-listener", daemon=True)

    @property
    def alive(self) -> bool:
        """Whether the connection is still open on our side."""
        return not self._dead

    def start(self) -> None:
        """Greet the client and serve it in a new thread."""
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the serving thread to end."""
        self._thread.join(timeout)

    def offer(self, event: Event) -> None:
        """Queue ``event`` if this listener is subscribed to it (called from the event dispatch thread)."""
        with self._lock:
            if self._dead or not self.subscription.wants(event):
                return
            self._queue.append(event)
        self._wake()

    def pending_events(self) -> int:
        """How many events are queued but not yet written."""
        with self._lock:
            return len(self._queue)

    def kill(self, notice: bytes | None) -> None:
        """End the connection from outside: optionally write a disconnect notice, then cut the socket (the
        goodbye notice is not sent)."""
        with self._send_lock:
            with self._lock:
                if self._dead:
                    return
                self._dead = True
            if notice is not None:
                self._send(disconnect_frame(notice))
            self._cut()
        self._board.forget(self)

    # --- the serving thread ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        say_goodbye = True
        try:
            self._send(b"Content-Type: auth/request\n\n")
            deadline: float | None = time.monotonic() + AUTH_TIMEOUT
            while not self._dead:
                if not self._reader.partial:
                    self._flush_events()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                readable, _, _ = select.select([self._sock, self._wake_reader], [], [], timeout)
                if not readable:
                    break
                if self._wake_reader in readable:
                    self._wake_reader.recv(_RECV_SIZE)
                if self._sock in readable:
                    data = self._sock.recv(_RECV_SIZE)
                    if not data:
                        say_goodbye = False
                        break
                    self._reader.feed(data)
                    deadline = None
                    if not self._run_commands():
                        break
        except OSError:
            say_goodbye = False
        finally:
            self._finish(say_goodbye)

    def _run_commands(self) -> bool:
        """Run every complete command received; ``False`` once the connection must end."""
        while (command := self._reader.next_command()) is not None:
            fault = self._board.note_command(command.line)
            if fault == "drop_before":
                self.kill(None)
                return False
            frame, keep_open = self._execute(command)
            if fault == "drop_after_execute":
                self.kill(None)
                return False
            if fault == "drop_mid_reply":
                self._send(frame[: len(frame) // 2])
                self.kill(None)
                return False
            self._send(frame)
            if not keep_open:
                return False
        return True

    def _finish(self, say_goodbye: bool) -> None:
        with self._lock:
            killed_from_outside = self._dead
            self._dead = True
        self._board.forget(self)
        if say_goodbye and not killed_from_outside:
            self._send(disconnect_frame(GOODBYE))
        with self._send_lock:
            self._cut()
            self._sock.close()
        self._wake_reader.close()
        with self._lock:
            self._wake_writer.close()

    def _flush_events(self) -> None:
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            event_format = self.subscription.event_format
        for event in events:
            self._send(event_frame(event, event_format))

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            try:
                self._sock.sendall(data)
            except OSError:
                self._cut()

    def _cut(self) -> None:
        with self._send_lock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return

    def _wake(self) -> None:
        with self._lock:
            if self._wake_writer.fileno() == -1:
                return
            try:
                self._wake_writer.send(b"\0")
            except OSError:
                return

    # --- parse_command --------------------------------------------------------------------------------------

    def _execute(self, command: Command) -> tuple[bytes, bool]:
        """Run one command; returns the frame to write and whether the connection stays open."""
        line = command.line
        lowered = line.lower()
        if lowered.startswith(("exit", "...")):
            return reply_frame("+OK bye"), False
        if not self._authed:
            return self._unauthenticated(lowered, line)
        handlers = (
            ("filter ", self._filter),
            ("myevents ", self._myevents_command),
            ("divert_events", lambda _c: reply_frame("-ERR not controlling a session.")),
            ("sendmsg", self._sendmsg),
            ("sendevent", self._sendevent),
            ("api ", self._api),
            ("bgapi ", self._bgapi),
            ("log", self._log),
            ("linger", lambda _c: reply_frame("-ERR not controlling a session")),
            ("nolinger", lambda _c: reply_frame("-ERR not controlling a session")),
            ("nolog", self._nolog),
            ("event", self._event),
            ("nixevent", self._nixevent),
            ("noevents", self._noevents),
        )
        for prefix, handler in handlers:
            if lowered.startswith(prefix):
                return handler(command), True
        return reply_frame("-ERR command not found"), True

    def _unauthenticated(self, lowered: str, line: str) -> tuple[bytes, bool]:
        if lowered.startswith("auth "):
            if line[5:] == self._board.password:
                self._authed = True
                return reply_frame("+OK accepted"), True
            return reply_frame("-ERR invalid"), False
        if lowered.startswith("userauth "):
            # No directory user has an esl-password here, so every userauth fails like a wrong password.
            return reply_frame("-ERR invalid"), False
        return reply_frame("-ERR command not found"), True

    def _filter(self, command: Command) -> bytes:
        name, value = _split_word(command.line[7:].lstrip(" "))
        filters = self.subscription.filters
        if name.lower() == "delete" and value is not None:
            name, target = _split_word(value)
            with self._lock:
                if name.lower() == "all":
                    filters.clear()
                else:
                    filters[:] = [
                        (key, kept)
                        for key, kept in filters
                        if key.lower() != name.lower() or (target and kept != target)
                    ]
            return reply_frame(f"+OK filter deleted. [{name}][{target or ''}]")
        if value is None:
            return reply_frame("-ERR invalid syntax")
        if name.lower() == "add":
            name, value = _split_word(value)
        if value is not None:
            with self._lock:
                filters.append((name, value))
        return reply_frame(f"+OK filter added. [{name}]=[{'(null)' if value is None else value}]")

    def _myevents_command(self, command: Command) -> bytes:
        if self._myevents:
            return reply_frame("-ERR aready enabled.")
        if " " in command.line[9:]:
            return reply_frame("-ERR invalid uuid")
        self._myevents = True
        with self._lock:
            subscription = self.subscription
            subscription.enabled = True
            subscription.names.update(_MYEVENTS_NAMES)
            subscription.channel_events_only = True
            if "xml" in command.line or "XML" in command.line:
                subscription.event_format = "xml"
            if "json" in command.line or "JSON" in command.line:
                subscription.event_format = "json"
        return reply_frame("+OK Events Enabled")

    def _sendmsg(self, command: Command) -> bytes:
        uuid = command.line[7:].strip(" ") or command.header("session-id") or ""
        return reply_frame(f"-ERR invalid session id [{uuid}]")

    def _sendevent(self, command: Command) -> bytes:
        return reply_frame(f"+OK {self._board.inject_event(command)}")

    def _api(self, command: Command) -> bytes:
        name, space, arg = command.line[4:].partition(" ")
        output = self._board.api_output(name, arg if space else None, background=False)
        return api_frame(output or b"-ERR no reply\n")

    def _bgapi(self, command: Command) -> bytes:
        name, space, arg = command.line[6:].partition(" ")
        job_uuid = command.header("job-uuid") or self._board.new_uuid()
        self._board.start_background_job(job_uuid, name, arg if space else None)
        return b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: %s\nJob-UUID: %s\n\n" % (
            to_bytes(job_uuid),
            to_bytes(job_uuid),
        )

    def _log(self, command: Command) -> bytes:
        level_word = command.line[3:]
        if level_word:
            level_word = level_word[1:]
        level = log_level(level_word) if level_word else log_level("DEBUG")
        if level == _LOG_INVALID:
            return reply_frame("-ERR invalid log level")
        # The simulator writes no log lines; it only remembers that logging is on.
        self._logging = True
        return reply_frame(f"+OK log level {level_word} [{level}]")

    def _nolog(self, _command: Command) -> bytes:
        if not self._logging:
            return reply_frame("-ERR not loging")
        self._logging = False
        return reply_frame("+OK no longer logging")

    def _event(self, command: Command) -> bytes:
        words = _words_after_command(command.line, 5)
        subscription = self.subscription
        keys = 0
        custom = False
        with self._lock:
            for index, word in enumerate(words):
                if index == 0 and word.lower() in ("plain", "json", "xml"):
                    subscription.event_format = word.lower()
                    continue
                if custom:
                    subscription.subclasses.add(word)
                    continue
                name = name_event(word)
                if name is None:
                    continue
                keys += 1
                subscription.names.add(name)
                if name == "CUSTOM":
                    custom = True
            if not keys:
                return reply_frame("-ERR no keywords supplied")
            subscription.enabled = True
            subscription.commands.append(command.line)
            return reply_frame(f"+OK event listener enabled {subscription.event_format}")

    def _nixevent(self, command: Command) -> bytes:
        words = _words_after_command(command.line, 5)
        subscription = self.subscription
        keys = 0
        custom = False
        with self._lock:
            for word in words:
                if custom:
                    subscription.subclasses.discard(word)
                    continue
                name = name_event(word)
                if name is None:
                    continue
                keys += 1
                if name == "CUSTOM":
                    custom = True
                elif name == "ALL":
                    subscription.names.clear()
                else:
                    if "ALL" in subscription.names:
                        subscription.names.discard("ALL")
                        subscription.names.update(_ALL_BUT_ALL)
                    subscription.names.discard(name)
            if not keys:
                return reply_frame("-ERR no keywords supplied")
            subscription.enabled = True
            return reply_frame("+OK events nixed")

    def _noevents(self, _command: Command) -> bytes:
        with self._lock:
            self._queue.clear()
            if not self.subscription.enabled:
                return reply_frame("-ERR not listening for events")
            self.subscription = Subscription(
                event_format=self.subscription.event_format,
                filters=self.subscription.filters,
                channel_events_only=self.subscription.channel_events_only,
            )
            return reply_frame("+OK no longer listening for events")


def _split_word(text: str) -> tuple[str, str | None]:
    """``text`` cut at its first space: (before, after), or (text, ``None``) without a space."""
    before, space, after = text.partition(" ")
    return before, (after if space else None)


def _words_after_command(line: str, skip: int) -> list[str]:
    """The space-separated words after the first space following ``line[skip:]`` (as ``parse_command``)."""
    rest = line[skip:]
    space = rest.find(" ")
    return [] if space < 0 else rest[space + 1 :].split(" ")
