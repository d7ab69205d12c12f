"""A FreeSWITCH node as the gateway sees it: a supervised event socket connection, texts to phones, and
callbacks for the events the gateway acts on."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import gevent
import gevent.event
import gevent.queue

from fspbx_sms.esl.chat import chat_command
from fspbx_sms.esl.connection import ConnectionLost, EslConnection, EslConnectionError, NotConnected
from fspbx_sms.esl.events import (
    ChatResult,
    PhoneText,
    Registration,
    VoicemailLeft,
    phone_text_from,
    registration_from,
    voicemail_from,
)
from fspbx_sms.esl.frames import EslEvent
from fspbx_sms.esl.registrations import DeviceContact, parse_xmlstatus, profile_names

log = logging.getLogger(__name__)

# Every word after CUSTOM is taken as a subclass, so the plain event names must come first (SPEC §8).
SUBSCRIPTION = (
    "event plain MESSAGE BACKGROUND_JOB HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire"
    " vm::maintenance SMS::DELIVERY_REPORT sofia::error"
)

_CONNECTED = object()


class EslUnavailable(Exception):
    """FreeSWITCH could not be asked, or gave no answer in time: the outcome is unknown, try again later."""


class EslClient:
    """Keeps one event socket connection to a FreeSWITCH node up (reconnecting forever until :meth:`stop`),
    sends texts to phones and reports phone texts, registrations and voicemails through the callbacks.

    Callbacks run one after another in one greenlet; each must be quick. An exception in a callback is
    logged and the next event is processed as usual.
    """

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        name: str = "fs1",
        on_phone_text: Callable[[PhoneText], None] | None = None,
        on_registration: Callable[[Registration], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        on_voicemail: Callable[[VoicemailLeft], None] | None = None,
        on_resync: Callable[[str, list[DeviceContact]], None] | None = None,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        heartbeat_timeout: float = 60.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ):
        self.name = name
        self.host = host
        self.port = port
        self._password = password
        self._on_phone_text = on_phone_text
        self._on_registration = on_registration
        self._on_connected = on_connected
        self._on_voicemail = on_voicemail
        self._on_resync = on_resync
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._heartbeat_timeout = heartbeat_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        #: ``connecting``, ``connected``, ``disconnected`` or ``stopped``.
        self.state = "disconnected"
        self.connected_since: datetime | None = None
        self.last_error = ""
        #: How many times the connection was established again after being lost.
        self.reconnects = 0
        self._connection: EslConnection | None = None
        self._connected = gevent.event.Event()
        self._last_event_at = 0.0
        # Results of our background jobs, by Job-UUID. Kept here rather than on the connection: FreeSWITCH
        # sends BACKGROUND_JOB to every subscribed connection, so a job sent just before a reconnect is
        # still answered on the new one.
        self._jobs: dict[str, gevent.event.AsyncResult] = {}
        # SIP status codes of our chat sends, keyed by (from, to, body): FreeSWITCH reports the phone's
        # answer only in the MESSAGE copy it fires just before the BACKGROUND_JOB result.
        self._chat_codes: dict[tuple[str, str, str], int | None] = {}
        self._dispatch_queue: gevent.queue.Queue = gevent.queue.Queue()
        self._supervisor: gevent.Greenlet | None = None
        self._dispatcher: gevent.Greenlet | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._supervisor is not None:
            raise RuntimeError(f"ESL client {self.name} was already started")
        self.state = "connecting"
        self._dispatcher = gevent.spawn(self._dispatch_forever)
        self._supervisor = gevent.spawn(self._supervise)

    def stop(self) -> None:
        """Close the connection and stop reconnecting; pending sends raise :class:`EslUnavailable`."""
        self.state = "stopped"
        self._connected.clear()
        for greenlet in (self._supervisor, self._dispatcher):
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill()
        if self._connection is not None:
            self._connection.stop()
            self._connection = None
        jobs, self._jobs = self._jobs, {}
        for result in jobs.values():
            result.set_exception(EslUnavailable(f"ESL client {self.name} stopped"))

    def status(self) -> dict:
        """Connection state for health checks and the dashboard."""
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "state": self.state,
            "connected_since": self.connected_since.isoformat() if self.connected_since else None,
            "last_error": self.last_error,
            "reconnects": self.reconnects,
        }

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected and subscribed; ``False`` if not so within ``timeout`` seconds."""
        return self._connected.wait(timeout)

    # --- commands --------------------------------------------------------------------------------------

    def send_chat(
        self,
        *,
        from_number: str,
        to_user: str,
        to_domain: str,
        body: str,
        content_type: str = "text/plain",
        timeout: float = 65.0,
        device: DeviceContact | None = None,
    ) -> ChatResult:
        """Send a text with ``bgapi chat`` to one registered ``device`` of ``to_user@to_domain``, or, without
        one, to every registered device of it.

        Returns FreeSWITCH's result (``sent`` when a device answered 2xx) with the device's SIP status
        when FreeSWITCH reported it. Raises :class:`EslUnavailable` when the outcome is unknown: not
        connected, or no result within ``timeout`` seconds (a result that arrives on a new connection after
        a reconnect still counts). ``ValueError`` for a NUL character, which ``chat`` cannot carry.
        """
        sender = f"{from_number}@{to_domain}"
        # A `sip:` URI after the profile is sent to as it is, without a registration lookup (SPEC §2.2).
        recipient = f"{device.profile}/{device.contact}" if device else f"{to_user}@{to_domain}"
        command = chat_command(sender, recipient, body, content_type)
        key = (sender, recipient, body)
        self._chat_codes[key] = None
        try:
            job_uuid, reply = self._background_job(command, timeout)
            code = self._chat_codes.get(key)
        finally:
            self._chat_codes.pop(key, None)
        reply = reply.strip()
        return ChatResult(sent=reply == "Sent", reply=reply, job_uuid=job_uuid, code=code)

    def registered_devices(self) -> list[DeviceContact]:
        """Every device registered on every sofia profile of this node (``sofia xmlstatus … reg``).

        Raises :class:`EslUnavailable` when FreeSWITCH cannot be asked or does not answer.
        """
        _, status = self._background_job("sofia status", self._command_timeout)
        devices: list[DeviceContact] = []
        for profile in profile_names(status):
            _, xml = self._background_job(f"sofia xmlstatus profile {profile} reg", self._command_timeout)
            try:
                devices += parse_xmlstatus(profile, xml)
            except SyntaxError as err:  # ElementTree.ParseError
                raise EslUnavailable(f"unreadable sofia xmlstatus answer for {profile}: {err}") from err
        return devices

    def _background_job(self, command: str, timeout: float) -> tuple[str, str]:
        """Run ``bgapi <command>`` with our own Job-UUID; return the Job-UUID and the job's output."""
        connection = self._connection
        if connection is None or not self._connected.is_set():
            raise EslUnavailable(f"not connected to FreeSWITCH {self.name}")
        job_uuid = str(uuid.uuid4())
        result = gevent.event.AsyncResult()
        self._jobs[job_uuid] = result  # before sending: the result may come before the reply is read
        deadline = time.monotonic() + timeout
        try:
            try:
                reply = connection.send(f"bgapi {command}\nJob-UUID: {job_uuid}")
            except NotConnected as err:
                raise EslUnavailable(str(err)) from err
            except ConnectionLost as err:
                log.warning("ESL %s: connection lost while sending job %s (%s)", self.name, job_uuid, err)
            else:
                if not reply.reply_text.startswith("+OK"):
                    raise EslUnavailable(f"FreeSWITCH refused bgapi: {reply.reply_text}")
            try:
                return job_uuid, result.get(timeout=max(0.0, deadline - time.monotonic()))
            except gevent.Timeout:
                raise EslUnavailable(f"no result for job {job_uuid} within {timeout:g}s") from None
        finally:
            self._jobs.pop(job_uuid, None)

    # --- connection supervision ------------------------------------------------------------------------

    def _supervise(self) -> None:
        # Consecutive failed attempts and short-lived connections; each one doubles the wait before the
        # next attempt. A connection that was up for at least ``backoff_initial`` is retried at once: a
        # background job sent just before the loss may still report its result to the new connection.
        failures = 0
        while True:
            if failures:
                gevent.sleep(self._backoff(failures - 1))
            self.state = "connecting"
            try:
                connection = self._open()
            except Exception as err:
                self.state = "disconnected"
                self.last_error = str(err) or type(err).__name__
                failures += 1
                log.warning(
                    "ESL %s: cannot connect to %s:%s: %s", self.name, self.host, self.port, self.last_error
                )
                continue
            connected_at = time.monotonic()
            try:
                self._serve(connection)
            finally:
                self._connected.clear()
                self._connection = None
                connection.stop()
            self.state = "disconnected"
            failures = 0 if time.monotonic() - connected_at >= self._backoff_initial else failures + 1
            log.warning("ESL %s: connection lost: %s", self.name, self.last_error)

    def _open(self) -> EslConnection:
        """Connect, authenticate and subscribe within ``connect_timeout``."""
        connection = EslConnection(
            self.host,
            self.port,
            self._password,
            on_event=self._on_event,
            timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
        )
        too_slow = EslConnectionError(f"no answer within {self._connect_timeout:g}s")
        try:
            with gevent.Timeout(self._connect_timeout, too_slow):
                connection.connect()
                reply = connection.send(SUBSCRIPTION)
            if not reply.reply_text.startswith("+OK"):
                raise EslConnectionError(f"FreeSWITCH refused the event subscription: {reply.reply_text}")
        except BaseException:
            connection.stop()
            raise
        return connection

    def _serve(self, connection: EslConnection) -> None:
        """Run until the connection's reader ends or FreeSWITCH stays silent for ``heartbeat_timeout``."""
        self._connection = connection
        self._last_event_at = time.monotonic()
        if self.connected_since is not None:
            self.reconnects += 1
        self.connected_since = datetime.now(UTC)
        self.state = "connected"
        self._connected.set()
        log.info("ESL %s: connected to %s:%s", self.name, self.host, self.port)
        self._dispatch_queue.put(_CONNECTED)
        lost = gevent.event.Event()
        connection.receiver.link(lambda _greenlet: lost.set())
        while not lost.wait(
            timeout=max(0.0, self._last_event_at + self._heartbeat_timeout - time.monotonic())
        ):
            silence = time.monotonic() - self._last_event_at
            if silence >= self._heartbeat_timeout:
                self.last_error = f"no event from FreeSWITCH for {silence:.1f}s"
                return
        self.last_error = connection.lost_reason

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: between half and all of ``initial * 2**failures`` (capped)."""
        ceiling = min(self._backoff_max, self._backoff_initial * 2 ** min(failures, 32))
        return ceiling * random.uniform(0.5, 1.0)

    # --- events ----------------------------------------------------------------------------------------

    def _on_event(self, event: EslEvent) -> None:
        """Runs in the connection's reading greenlet: settle job results at once, queue the rest."""
        self._last_event_at = time.monotonic()
        if event.name == "BACKGROUND_JOB":
            result = self._jobs.pop(event.headers.get("Job-UUID", ""), None)
            if result is not None:
                result.set(event.body)
        elif event.name == "MESSAGE" and (key := _chat_key(event)) in self._chat_codes:
            code = event.headers.get("Delivery-Result-Code", "")
            self._chat_codes[key] = int(code) if code.isdigit() else None
        elif event.name != "HEARTBEAT":
            self._dispatch_queue.put(event)

    def _dispatch_forever(self) -> None:
        while True:
            item = self._dispatch_queue.get()
            try:
                if item is _CONNECTED:
                    self._resync()
                    if self._on_connected is not None:
                        self._on_connected()
                else:
                    self._deliver(item)
            except Exception:
                log.exception("ESL %s: handling %s failed", self.name, _describe(item))

    def _resync(self) -> None:
        """Report the node's registered devices; a failure is logged and the next connection tries again."""
        if self._on_resync is None:
            return
        try:
            devices = self.registered_devices()
        except EslUnavailable as err:
            log.warning("ESL %s: cannot list registrations for resync: %s", self.name, err)
            return
        self._on_resync(self.name, devices)

    def _deliver(self, event: EslEvent) -> None:
        if self._on_phone_text is not None and (text := phone_text_from(event)) is not None:
            self._on_phone_text(text)
        elif self._on_registration is not None and (
            registration := registration_from(event, self.name)
        ) is not None:
            self._on_registration(registration)
        elif self._on_voicemail is not None and (voicemail := voicemail_from(event, self.name)) is not None:
            self._on_voicemail(voicemail)


def _chat_key(event: EslEvent) -> tuple[str, str, str]:
    """Which of our chat sends a MESSAGE copy belongs to: its sender, recipient and body."""
    return (event.headers.get("from", ""), event.headers.get("to", ""), event.body)


def _describe(item: object) -> str:
    """A log-safe description of a dispatched item (names and sequence only: no body, no addresses)."""
    if isinstance(item, EslEvent):
        name = f"{item.name} {item.subclass}".strip()
        return f"{name} event {item.headers.get('Core-UUID', '?')}:{item.headers.get('Event-Sequence', '?')}"
    return "the connected callback"
