"""The simulated FreeSWITCH: a real TCP event socket on 127.0.0.1 (port 0) plus the switch behind it —
registrations, phones that answer (or not), SIP MESSAGE both ways, HEARTBEAT, voicemail, shutdown — and
fault injection for the client's tests. Plain threads only, so it serves gevent clients in the same process
and service subprocesses alike."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Self

from tests.esl_simulator.api import VERSION, Api, ApiContext
from tests.esl_simulator.dispatch import EventDispatcher
from tests.esl_simulator.events import Event, Origin, Switch, name_event, to_bytes
from tests.esl_simulator.listener import Listener
from tests.esl_simulator.messaging import Chatplan, Messaging, SipDelivery, body_bytes
from tests.esl_simulator.packets import Command
from tests.esl_simulator.registry import Registry

_SENDEVENT = Origin("mod_event_socket.c", "parse_command", 2275)
_BACKGROUND_JOB = Origin("mod_event_socket.c", "api_exec", 1572)
_HEARTBEAT = Origin("switch_core.c", "send_heartbeat", 95)
_SHUTDOWN = Origin("switch_core.c", "switch_core_destroy", 3023)
_VOICEMAIL = Origin("mod_voicemail.c", "deliver_vm", 2914)
_FAULT_MODES = ("drop_before", "drop_after_execute", "drop_mid_reply")
#: Where phones are, unless a test says otherwise (TEST-NET-1).
DEFAULT_PHONE_IP = "192.0.2.10"
_SHUTDOWN_NOTICE = b"The system is being shut down.\n"
_SLOW_CONSUMER_NOTICE = b"killed listener because of lost events\n"


class EslSimulator:
    """A FreeSWITCH 1.10.12 event socket (mod_event_socket + mod_sofia + mod_sms) for tests.

    ``start()`` listens on 127.0.0.1 port 0 (``host``/``port`` tell where); use it as a context manager or
    call ``stop()``. ``deliveries`` lists every SIP MESSAGE a phone received; ``commands`` every command
    line a client sent (all connections, in order). The methods that make FreeSWITCH fire events return
    once those events are queued to every connection subscribed to them.
    """

    def __init__(
        self,
        password: str = "ClueCon",
        *,
        domain: str = "pbx.test",
        hostname: str = "fs1",
        profile: str = "internal",
        no_answer_delay: float = 0.5,
        answer_delay: float = 0.02,
        context: str = "default",
        multiple_registrations: bool = True,
        fire_message_events: bool = False,
        heartbeat_interval: float | None = None,
    ) -> None:
        self.password = password
        self.domain = domain
        self.profile = profile
        self.host = "127.0.0.1"
        self.port = 0
        self.core_uuid = str(uuid.uuid4())
        self.commands: list[str] = []
        self._fire_message_events = fire_message_events
        self._heartbeat_interval = heartbeat_interval
        self._started_at = time.time()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._every_listener: list[Listener] = []
        self._faults: list[tuple[str, str]] = []
        self._domains = {domain}
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._switch = Switch(self.core_uuid, hostname, "127.0.0.1", "::1")
        self._dispatcher = EventDispatcher([self._mod_sms_handler, self._broadcast])
        self._registry = Registry(
            self._switch,
            self._dispatcher.fire,
            profile=profile,
            multiple_registrations=multiple_registrations,
        )
        self._messaging = Messaging(
            switch=self._switch,
            fire=self._dispatcher.fire,
            registry=self._registry,
            profile=profile,
            is_local_domain=self._is_local_domain,
            sip_ip="127.0.0.1",
            context=context,
            answer_delay=answer_delay,
            no_answer_delay=no_answer_delay,
            stopping=self._stopping,
        )
        self._api = Api(
            ApiContext(
                started_at=self._started_at,
                profile=profile,
                hostname=hostname,
                variables={
                    "domain": domain,
                    "domain_name": domain,
                    "hostname": hostname,
                    "local_ip_v4": "127.0.0.1",
                },
                contacts=self._registry.contacts,
                core_rows=self._registry.core_rows,
                sofia_rows=self._registry.all_rows,
                domains=self._domain_names,
                is_local_domain=self._is_local_domain,
                chat=self._messaging.chat_api,
                shutdown=self._shutdown_soon,
            )
        )

    # --- life cycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on a free loopback port and start serving; returns ``self``."""
        if self._server is not None:
            return self
        self._server = socket.create_server((self.host, 0))
        self._wake = socket.socketpair()
        self.port = self._server.getsockname()[1]
        self._dispatcher.start()
        self._messaging.start()
        self._spawn(self._accept, "esl-sim-accept")
        if self._heartbeat_interval:
            self._spawn(self._beat, "esl-sim-heartbeat")
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket; stop all threads (again: nothing)."""
        if self._wake is None or self._stopping.is_set():
            self._stopping.set()
            return
        self._stopping.set()
        wake_reader, wake_writer = self._wake
        wake_writer.send(b"\0")
        for listener in self._live_listeners():
            listener.kill(None)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        for listener in self._all_listeners:
            listener.join(5)
        self._dispatcher.stop()
        self._messaging.stop()
        wake_reader.close()
        wake_writer.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what tests look at ---------------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[SipDelivery]:
        """Every SIP MESSAGE a phone received, in order."""
        return self._messaging.deliveries

    def connection_count(self) -> int:
        """How many client connections are open."""
        return len(self._live_listeners())

    def subscriptions(self) -> list[str]:
        """The ``event …`` commands in force, connection after connection."""
        return [line for listener in self._live_listeners() for line in listener.subscription.commands]

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Poll ``predicate`` until it is true; ``AssertionError`` after ``timeout`` seconds. (Blocks the
        calling thread: from a gevent hub thread, poll with ``gevent.sleep`` instead.)"""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"simulator condition not met within {timeout}s")
            time.sleep(0.01)

    # --- phones ---------------------------------------------------------------------------------------------

    def register(
        self,
        user: str,
        domain: str | None = None,
        *,
        contact: str | None = None,
        expires: int = 3600,
        user_agent: str = "Yealink SIP-T46U",
        network_ip: str = DEFAULT_PHONE_IP,
    ) -> str:
        """A phone REGISTERs (``sofia::register``); returns its contact URI. The same contact again (or, with
        ``contact=None``, the same user from the same IP) is a refresh with the same Call-ID."""
        contact = self._registry.register(
            user,
            self._domain(domain),
            contact=contact,
            expires=expires,
            user_agent=user_agent,
            network_ip=network_ip,
        )
        self._settle()
        return contact

    def failed_register(
        self,
        user: str,
        domain: str | None = None,
        *,
        contact: str | None = None,
        user_agent: str = "Yealink SIP-T46U",
        network_ip: str = DEFAULT_PHONE_IP,
    ) -> None:
        """A phone REGISTERs with a wrong password (``sofia::register_failure``; 403, nothing stored)."""
        self._registry.register_failure(
            user, self._domain(domain), contact=contact, user_agent=user_agent, network_ip=network_ip
        )
        self._settle()

    def unregister(
        self, user: str, domain: str | None = None, *, contact: str | None = None, reason: str | None = None
    ) -> None:
        """REGISTER with Expires 0 for one contact (``None``: all of the user's); ``reason`` gives the
        ``socket-disconnection`` variant instead."""
        self._registry.unregister(user, self._domain(domain), contact=contact, reason=reason)
        self._settle()

    def expire(self, user: str, domain: str | None = None, *, contact: str | None = None) -> None:
        """The registration(s) lapse and FreeSWITCH purges them (``sofia::expire``)."""
        self._registry.expire(user, self._domain(domain), contact=contact)
        self._settle()

    def set_phone_response(self, user: str, code: int | None, domain: str | None = None) -> None:
        """What ``user``'s phones answer to a MESSAGE: 200/202/404/480…, or ``None`` for never."""
        self._messaging.set_phone_response(user, self._domain(domain), code)

    def phone_message(
        self,
        from_user: str,
        to: str,
        body: bytes | str,
        *,
        domain: str | None = None,
        content_type: str = "text/plain",
        extra_headers: Mapping[str, str] | None = None,
        fire_copies: int = 0,
        chatplan_vars: Mapping[str, str] | None = None,
        final: bool = True,
    ) -> None:
        """``from_user``'s phone sends a MESSAGE to ``to`` (``user`` or ``user@host``). The chatplan sets
        ``chatplan_vars``, runs ``fire`` ``fire_copies`` times, then ``final`` (set ``final=False`` to have
        FreeSWITCH deliver the text itself, as without ``final_delivery``)."""
        sender_domain = self._domain(domain)
        to_user, _, to_host = to.partition("@")
        self._messaging.phone_message(
            from_user=from_user,
            from_domain=sender_domain,
            to_user=to_user,
            to_host=to_host or sender_domain,
            body=body_bytes(body),
            content_type=content_type,
            extra_headers=extra_headers or {},
            chatplan=Chatplan(dict(chatplan_vars or {}), fire_copies, final),
            recv_message_event=self._fire_message_events,
            network_ip=DEFAULT_PHONE_IP,
        )
        self._settle()

    # --- other FreeSWITCH events ----------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Fire a ``HEARTBEAT`` event."""
        uptime_ms = int((time.time() - self._started_at) * 1000)
        seconds, milliseconds = divmod(uptime_ms, 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        event = self._switch.create("HEARTBEAT", _HEARTBEAT)
        for name, value in (
            ("Event-Info", "System Ready"),
            (
                "Up-Time",
                f"0 years, {hours // 24} days, {hours % 24} hours, {minutes} minutes, {seconds} seconds, "
                f"{milliseconds} milliseconds, 0 microseconds",
            ),
            ("FreeSWITCH-Version", VERSION),
            ("Uptime-msec", str(uptime_ms)),
            ("Session-Count", "0"),
            ("Max-Sessions", "100"),
            ("Session-Per-Sec", "30"),
            ("Session-Per-Sec-Last", "0"),
            ("Session-Per-Sec-Max", "0"),
            ("Session-Per-Sec-FiveMin", "0"),
            ("Session-Since-Startup", "0"),
            ("Session-Peak-Max", "0"),
            ("Session-Peak-FiveMin", "0"),
            ("Idle-CPU", "99.000000"),
        ):
            event.add(name, value)
        self._dispatcher.fire(event)
        self._settle()

    def voicemail_left(
        self,
        user: str,
        domain: str | None = None,
        *,
        caller_id_name: str = "",
        caller_id_number: str = "",
        length_seconds: int = 10,
    ) -> None:
        """mod_voicemail stored a new message: ``CUSTOM vm::maintenance``, ``VM-Action: leave-message``."""
        mailbox_domain = self._domain(domain)
        message_uuid = str(uuid.uuid4())
        event = self._switch.create("CUSTOM", _VOICEMAIL, "vm::maintenance")
        for name, value in (
            ("VM-Action", "leave-message"),
            ("VM-User", user),
            ("VM-Domain", mailbox_domain),
            ("VM-Caller-ID-Name", caller_id_name),
            ("VM-Caller-ID-Number", caller_id_number),
            (
                "VM-File-Path",
                f"/var/lib/freeswitch/storage/voicemail/default/{mailbox_domain}/{user}/"
                f"msg_{message_uuid}.wav",
            ),
            ("VM-Flags", "B_NORMAL"),
            ("VM-Folder", "inbox"),
            ("VM-UUID", message_uuid),
            ("VM-Message-Len", str(length_seconds)),
            ("VM-Timestamp", str(int(time.time()))),
        ):
            event.add(name, value)
        self._dispatcher.fire(event)
        self._settle()

    def send_event(
        self, name: str, headers: Mapping[str, str], body: bytes = b"", subclass: str | None = None
    ) -> None:
        """Fire any event: standard headers, then ``headers``, then ``body``."""
        event = self._switch.create(name, Origin("switch_event.c", "switch_event_fire_detailed", 0), subclass)
        for header, value in headers.items():
            event.add(header, value)
        if body:
            event.set_body(body)
        self._dispatcher.fire(event)
        self._settle()

    # --- faults ---------------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """FreeSWITCH shuts down: ``SHUTDOWN`` event, then ``The system is being shut down.`` on every
        connection and close. (The listening socket stays open, like a FreeSWITCH that is restarted.)"""
        event = self._switch.create("SHUTDOWN", _SHUTDOWN)
        event.add("Event-Info", "System Shutting Down")
        self._dispatcher.fire(event)
        self._settle()
        deadline = time.monotonic() + 1.0
        while any(listener.pending_events() for listener in self._live_listeners()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        for listener in self._live_listeners():
            listener.kill(_SHUTDOWN_NOTICE)

    def drop_connections(self) -> None:
        """Cut every client connection at once, without a word."""
        for listener in self._live_listeners():
            listener.kill(None)

    def kill_slow_consumers(self) -> None:
        """Every connection that listens for events is killed as a slow consumer (notice, then close)."""
        for listener in self._live_listeners():
            if listener.subscription.enabled:
                listener.kill(_SLOW_CONSUMER_NOTICE)

    def fail_next(self, command_prefix: str, mode: str) -> None:
        """Break the next command starting with ``command_prefix``: ``drop_before`` (close without running
        it), ``drop_after_execute`` (run it, close before replying; a bgapi job still completes and its
        ``BACKGROUND_JOB`` goes to whoever is subscribed then) or ``drop_mid_reply`` (run it, write half of
        the reply, close)."""
        if mode not in _FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {_FAULT_MODES}")
        with self._lock:
            self._faults.append((command_prefix, mode))

    # --- what listeners ask for (the Switchboard protocol) --------------------------------------------------

    def note_command(self, line: str) -> str | None:
        """Record a command line; return the armed fault for it, if any."""
        self.commands.append(line)
        with self._lock:
            for index, (prefix, mode) in enumerate(self._faults):
                if line.startswith(prefix):
                    del self._faults[index]
                    return mode
        return None

    def api_output(self, command: str, arg: str | None, *, background: bool) -> bytes:
        """``api_exec``: the command's output, ``-ERR <cmd> Command not found!`` for an unknown one."""
        output = self._api.execute(command, arg)
        if output is None:
            output = f"-ERR {command} Command not found!\n"
        return to_bytes(output)

    def start_background_job(self, job_uuid: str, command: str, arg: str | None) -> None:
        """``bgapi``: run the command in its own thread, then fire ``BACKGROUND_JOB``."""

        def job() -> None:
            output = self.api_output(command, arg, background=True)
            event = self._switch.create("BACKGROUND_JOB", _BACKGROUND_JOB)
            event.add("Job-UUID", job_uuid)
            event.add("Job-Command", command)
            event.add("Job-Command-Arg", arg)
            event.set_body(output)
            self._dispatcher.fire(event)

        self._spawn(job, "esl-sim-bgapi")

    def inject_event(self, command: Command) -> str:
        """``sendevent``: the command's headers (plus ``Command`` and ``Event-UUID``) and body become an
        event; a CUSTOM event's ``Event-Subclass`` moves to the top; the standard headers follow."""
        event_uuid = self.new_uuid()
        event = Event("COMMAND")
        event.add("Command", command.line)
        for name, value in command.headers:
            event.add(name, value)
        if command.body is not None:
            event.set_body(command.body)
        event.add("Event-UUID", event_uuid)
        event.name = name_event(command.line[len("sendevent") :].lstrip(" \t")) or "COMMAND"
        subclass = event.get("Event-Subclass")
        if event.name == "CUSTOM" and subclass is not None:
            event.subclass = subclass
            event.delete("Event-Subclass")
            event.headers.insert(0, ("Event-Subclass", subclass))
        self._switch.stamp(event, _SENDEVENT)
        self._dispatcher.fire(event)
        return event_uuid

    def new_uuid(self) -> str:
        """A fresh UUID string."""
        return str(uuid.uuid4())

    def forget(self, listener: Listener) -> None:
        """Stop sending events to ``listener``."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # --- internals ------------------------------------------------------------------------------------------

    @property
    def _all_listeners(self) -> list[Listener]:
        with self._lock:
            return list(self._every_listener)

    def _live_listeners(self) -> list[Listener]:
        with self._lock:
            return [listener for listener in self._listeners if listener.alive]

    def _domain(self, domain: str | None) -> str:
        chosen = domain or self.domain
        with self._lock:
            self._domains.add(chosen)
        return chosen

    def _domain_names(self) -> list[str]:
        with self._lock:
            return sorted(self._domains)

    def _is_local_domain(self, name: str) -> bool:
        with self._lock:
            return name in self._domains

    def _settle(self) -> None:
        """Return only once the events fired so far are queued to the connections subscribed to them."""
        self._dispatcher.drain(5.0)

    def _mod_sms_handler(self, event: Event) -> None:
        if event.name == "CUSTOM" and event.subclass == "SMS::SEND_MESSAGE":
            self._messaging.on_send_message(event)

    def _broadcast(self, event: Event) -> None:
        for listener in self._live_listeners():
            listener.offer(event)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [known for known in self._threads if known.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _shutdown_soon(self) -> None:
        # ``fsctl shutdown`` answers +OK first; the shutdown itself follows a moment later.
        def later() -> None:
            if not self._stopping.wait(0.2):
                self.shutdown()

        self._spawn(later, "esl-sim-shutdown")

    def _accept(self) -> None:
        assert self._server is not None and self._wake is not None
        with self._server:
            while not self._stopping.is_set():
                readable, _, _ = select.select([self._server, self._wake[0]], [], [])
                if self._server not in readable:
                    continue
                try:
                    sock, _ = self._server.accept()
                except OSError:
                    continue
                listener = Listener(sock, self)
                with self._lock:
                    self._listeners.append(listener)
                    self._every_listener.append(listener)
                listener.start()

    def _beat(self) -> None:
        assert self._heartbeat_interval is not None
        while not self._stopping.wait(self._heartbeat_interval):
            self.heartbeat()
