"""One authenticated event-socket connection: greenswitch's ``InboundESL`` with its defects fixed.

Replaced parts (SPEC §5.3): frames are read as bytes and split by :mod:`fspbx_sms.esl.frames`, events
are handed to one callback instead of greenswitch's handler table, commands are written under one lock
and wait for their reply under a timeout, and every waiting command fails as soon as the connection dies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent
import gevent.socket
from gevent.event import AsyncResult
from gevent.lock import Semaphore
from greenswitch.esl import InboundESL

from fspbx_sms.esl.frames import EslEvent, Frame, FrameError, FrameParser, decode_text, parse_event

log = logging.getLogger(__name__)

_READ_SIZE = 65536


class EslConnectionError(Exception):
    """The event socket connection failed or is gone."""


class NotConnected(EslConnectionError):
    """The command was not sent: the connection is not up."""


class ConnectionLost(EslConnectionError):
    """The connection died, or stayed silent, before the reply: the command may or may not have run."""


class AuthenticationFailed(EslConnectionError):
    """FreeSWITCH refused the event socket password."""


class EslConnection(InboundESL):
    """A connected, authenticated inbound ESL session that passes each event to ``on_event``.

    ``on_event`` runs in the receiving greenlet, so it must only hand the event on.
    """

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        on_event: Callable[[EslEvent], None],
        timeout: float,
        command_timeout: float,
    ):
        super().__init__(host, port, password, timeout=timeout)
        self.sock: gevent.socket.socket | None = None
        self._on_event = on_event
        self._command_timeout = command_timeout
        self._send_lock = Semaphore()
        self._parser = FrameParser()
        #: Why the connection ended (empty while it is up).
        self.lost_reason = ""

    @property
    def receiver(self) -> gevent.Greenlet | None:
        """The greenlet reading from the socket; it ends when the connection does."""
        return self._receive_events_greenlet

    def connect(self) -> None:
        """Open the TCP connection, wait for ``auth/request``, authenticate (each step within ``timeout``)."""
        self.sock = gevent.socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_KEEPALIVE, 1)
        self.sock.settimeout(None)
        self.connected = True
        self.start_event_handlers()
        if not self._auth_request_event.wait(self.timeout):
            self._close(f"no auth/request within {self.timeout:g}s")
        if not self.connected:
            raise NotConnected(self.lost_reason)
        self.authenticate()

    def authenticate(self) -> None:
        """Send ``auth``; raise :class:`AuthenticationFailed` unless FreeSWITCH accepts it."""
        reply = self.send(f"auth {self.password}")
        if reply.reply_text != "+OK accepted":
            raise AuthenticationFailed(f"FreeSWITCH refused the event socket password ({reply.reply_text})")

    def start_event_handlers(self) -> None:
        """Start the receiving greenlet (events are dispatched by the caller's ``on_event``)."""
        self._receive_events_greenlet = gevent.spawn(self.receive_events)

    def receive_events(self) -> None:
        """Read frames until the connection ends, then fail whatever still waits for a reply."""
        reason = "FreeSWITCH closed the connection"
        try:
            while self.connected:
                data = self.sock.recv(_READ_SIZE)
                if not data:
                    break
                for frame in self._parser.feed(data):
                    self.handle_event(frame)
        except OSError as err:
            reason = f"connection error: {err}"
        except FrameError as err:
            reason = f"unreadable data from FreeSWITCH: {err}"
        finally:
            self._close(reason)

    def handle_event(self, frame: Frame) -> None:
        """Act on one frame: wake the command waiting for a reply, pass on an event, or note a disconnect."""
        content_type = frame.content_type
        if content_type == "auth/request":
            self._auth_request_event.set()
        elif content_type in ("command/reply", "api/response"):
            if self._commands_sent:
                self._commands_sent.pop(0).set(frame)
            else:
                log.warning("ignored a %s frame that no command was waiting for", content_type)
        elif content_type.startswith("text/event-"):
            self._pass_on(frame)
        elif content_type == "text/disconnect-notice":
            if frame.headers.get("Content-Disposition") != "linger":
                self._close(f"FreeSWITCH disconnected us: {decode_text(frame.body).strip()}")
        elif content_type == "text/rude-rejection":
            self._close(f"FreeSWITCH refused the connection (ACL): {decode_text(frame.body).strip()}")
            self._auth_request_event.set()
        else:
            log.debug("ignored a %s frame", content_type)

    def _pass_on(self, frame: Frame) -> None:
        try:
            event = parse_event(frame)
        except ValueError as err:
            log.warning(
                "skipped an unreadable %s frame of %d bytes: %s", frame.content_type, len(frame.body), err
            )
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("passing on a %s event failed", event.name)

    def send(self, data: str) -> Frame:
        """Send one command (first line, optional ``Name: value`` lines) and return its reply frame.

        Raises :class:`NotConnected` if nothing was sent, :class:`ConnectionLost` if the connection died
        or gave no reply within ``command_timeout`` (the connection is then closed: replies come in order,
        so a late one could never be matched again).
        """
        if "\n\n" in data or data.endswith("\n"):
            raise ValueError("an ESL command cannot contain a blank line")
        waiter = AsyncResult()
        with self._send_lock:
            if not self.connected:
                raise NotConnected(self.lost_reason or "not connected")
            self._commands_sent.append(waiter)
            try:
                self.sock.sendall((data + "\n\n").encode("utf-8"))
            except OSError as err:
                self._close(f"sending failed: {err}")
        try:
            return waiter.get(timeout=self._command_timeout)
        except gevent.Timeout:
            self._close(f"no reply within {self._command_timeout:g}s")
            raise ConnectionLost(self.lost_reason) from None

    def stop(self) -> None:
        """Close the connection at once; commands still waiting fail with :class:`ConnectionLost`."""
        self._close("closed by fspbx-sms")
        receiver = self._receive_events_greenlet
        if receiver is not None and receiver is not gevent.getcurrent():
            receiver.kill()

    def _close(self, reason: str) -> None:
        if not self.lost_reason:
            self.lost_reason = reason
        self.connected = False
        waiters, self._commands_sent = self._commands_sent, []
        for waiter in waiters:
            waiter.set_exception(ConnectionLost(self.lost_reason))
        if self.sock is not None:
            self.sock.close()
