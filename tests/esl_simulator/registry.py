"""mod_sofia's ``sip_registrations`` table and the core ``registrations`` table, with the CUSTOM events
(``sofia::pre_register``, ``register_attempt``, ``register``, ``register_failure``, ``unregister``,
``expire``) and MWI events a real REGISTER produces, header for header as in ``tests/transcripts/02*``."""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.esl_simulator.events import Event, Origin, Switch

_PRE_REGISTER = Origin("sofia_reg.c", "sofia_reg_handle_register_token", 1810)
_REGISTER_ATTEMPT = Origin("sofia_reg.c", "sofia_reg_handle_register_token", 1606)
_REGISTER_FAILURE = Origin("sofia_reg.c", "sofia_reg_handle_register_token", 1792)
_REGISTER = Origin("sofia_reg.c", "sofia_reg_handle_register_token", 2059)
_MESSAGE_QUERY = Origin("sofia_reg.c", "sofia_reg_handle_register_token", 2168)
_UNREGISTER = Origin("sofia_reg.c", "sofia_reg_handle_register_token", 2213)
_SOCKET_UNREGISTER = Origin("sofia.c", "sofia_event_callback", 2089)
_EXPIRE = Origin("sofia_reg.c", "sofia_reg_del_callback", 726)
_MESSAGE_WAITING = Origin("mod_voicemail.c", "actual_message_query_handler", 4026)

#: Seconds FreeSWITCH adds to a registration's expiry before it purges it (``sip-expires-late-margin``).
EXPIRES_LATE_MARGIN = 60
_FIRST_PHONE_PORT = 5061


def random_token(length: int) -> str:
    """Lowercase letters and digits, like the Call-IDs and tags SIP phones make up."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Registration:
    """One row of ``sip_registrations``: a contact of a user."""

    user: str
    domain: str
    contact: str
    call_id: str
    expires: int
    registered_at: float
    user_agent: str
    network_ip: str
    network_port: str

    @property
    def contact_header(self) -> str:
        """The Contact the phone sent, as FreeSWITCH stores and reports it."""
        return f'"" <{self.contact}>'

    @property
    def expires_at(self) -> int:
        """The absolute expiry FreeSWITCH stores (registration time + expires + late margin)."""
        return int(self.registered_at) + self.expires + EXPIRES_LATE_MARGIN


def port_of(contact: str) -> str:
    """The port of a SIP URI (5060 when it has none)."""
    host_part = contact.split("@", 1)[-1].split(";", 1)[0]
    return host_part.rsplit(":", 1)[1] if host_part.count(":") == 1 else "5060"


class Registry:
    """The registrations of one profile and what happens on the ESL side when phones (un)register."""

    def __init__(
        self,
        switch: Switch,
        fire: Callable[[Event], None],
        *,
        profile: str,
        multiple_registrations: bool,
    ) -> None:
        self._switch = switch
        self._fire = fire
        self._profile = profile
        self._multiple = multiple_registrations
        self._lock = threading.RLock()
        self._rows: list[Registration] = []
        self._core_rows: dict[tuple[str, str], Registration] = {}
        self._next_port = _FIRST_PHONE_PORT

    def contacts(self, user: str, domain: str) -> list[Registration]:
        """``sofia_reg_find_reg_url_multi``: every row of ``user`` at ``domain``, oldest first (expiry is not
        checked, as in FreeSWITCH)."""
        with self._lock:
            return [row for row in self._rows if row.user == user and row.domain == domain]

    def all_rows(self) -> list[Registration]:
        """Every row of ``sip_registrations`` (all users), oldest first."""
        with self._lock:
            return list(self._rows)

    def core_rows(self) -> list[Registration]:
        """The core ``registrations`` table behind ``show registrations`` (one row per user)."""
        with self._lock:
            return list(self._core_rows.values())

    def find_by_contact(self, contact: str) -> Registration | None:
        """The row whose contact URI is ``contact``."""
        with self._lock:
            return next((row for row in self._rows if row.contact == contact), None)

    def register(
        self,
        user: str,
        domain: str,
        *,
        contact: str | None,
        expires: int,
        user_agent: str,
        network_ip: str,
    ) -> str:
        """A successful REGISTER (new contact or refresh); returns the contact URI."""
        with self._lock:
            existing = self._existing(user, domain, contact, network_ip)
            if existing is None:
                contact = contact or self._new_contact(user, network_ip)
                if not self._multiple:
                    self._rows = [row for row in self._rows if (row.user, row.domain) != (user, domain)]
                row = Registration(
                    user,
                    domain,
                    contact,
                    f"{random_token(16)}@{network_ip}",
                    expires,
                    time.time(),
                    user_agent,
                    network_ip,
                    port_of(contact),
                )
                self._rows.append(row)
            else:
                row = existing
                row.expires, row.registered_at, row.user_agent = expires, time.time(), user_agent
            self._core_rows[(user, domain)] = row
            refresh = existing is not None
        self._fire(self._pre_register(row, expires))
        self._fire(self._register_attempt(row, expires, "RENEWED"))
        self._fire(self._register_event(row, update=refresh and self._multiple))
        if not refresh:
            self._fire_message_query(row)
        return row.contact

    def register_failure(
        self, user: str, domain: str, *, contact: str | None, user_agent: str, network_ip: str
    ) -> None:
        """A REGISTER with a wrong password (FreeSWITCH answers 403; nothing is stored)."""
        contact = contact or f"sip:{user}@{network_ip}:5060"
        row = Registration(
            user,
            domain,
            contact,
            f"{random_token(16)}@{network_ip}",
            3600,
            time.time(),
            user_agent,
            network_ip,
            port_of(contact),
        )
        self._fire(self._pre_register(row, row.expires))
        self._fire(self._register_attempt(row, row.expires, "FORBIDDEN"))
        event = self._switch.create("CUSTOM", _REGISTER_FAILURE, "sofia::register_failure")
        for name, value in (
            ("profile-name", self._profile),
            ("to-user", user),
            ("to-host", domain),
            ("network-ip", network_ip),
            ("user-agent", user_agent),
            ("profile-name", self._profile),
            ("network-port", row.network_port),
            ("registration-type", "REGISTER"),
        ):
            event.add(name, value)
        self._fire(event)

    def unregister(self, user: str, domain: str, *, contact: str | None, reason: str | None) -> None:
        """REGISTER with ``Expires: 0`` (or, with ``reason='socket-disconnection'``, a TCP close)."""
        for row in self._remove(user, domain, contact):
            if reason is None:
                self._fire(self._pre_register(row, 0))
                self._fire(self._register_attempt(row, 0, "RENEWED"))
                self._fire(self._unregister_event(row))
            else:
                event = self._switch.create("CUSTOM", _SOCKET_UNREGISTER, "sofia::unregister")
                for name, value in (
                    ("profile-name", self._profile),
                    ("from-user", row.user),
                    ("from-host", row.domain),
                    ("call-id", row.call_id),
                    ("rpid", "unknown"),
                    ("reason", reason),
                ):
                    event.add(name, value)
                self._fire(event)

    def expire(self, user: str, domain: str, *, contact: str | None) -> None:
        """The expiry sweep purging lapsed rows (``sofia::expire``, absolute ``expires``)."""
        for row in self._remove(user, domain, contact):
            event = self._switch.create("CUSTOM", _EXPIRE, "sofia::expire")
            for name, value in (
                ("profile-name", self._profile),
                ("call-id", row.call_id),
                ("user", row.user),
                ("username", row.user),
                ("host", row.domain),
                ("contact", row.contact_header),
                ("expires", str(row.expires_at)),
                ("user-agent", row.user_agent),
                ("realm", row.domain),
                ("network-ip", row.network_ip),
                ("network-port", row.network_port),
            ):
                event.add(name, value)
            self._fire(event)

    def pre_register_for_message(
        self,
        sender: Registration | None,
        sender_user: str,
        to_user: str,
        domain: str,
        network_ip: str,
        network_port: str,
    ) -> None:
        """The ``sofia::pre_register`` FreeSWITCH fires while authenticating a phone's MESSAGE (with the
        MESSAGE's destination as ``from-user``)."""
        event = self._switch.create("CUSTOM", _PRE_REGISTER, "sofia::pre_register")
        for name, value in (
            ("profile-name", self._profile),
            ("from-user", to_user),
            ("from-host", domain),
            ("call-id", f"{random_token(16)}@{network_ip}"),
            ("rpid", "unknown"),
            ("status", "Registered"),
            ("to-user", sender_user),
            ("to-host", domain),
            ("network-ip", network_ip),
            ("network-port", network_port),
            ("user-agent", sender.user_agent if sender else "unknown"),
        ):
            event.add(name, value)
        self._fire(event)

    def _existing(self, user: str, domain: str, contact: str | None, network_ip: str) -> Registration | None:
        for row in self._rows:
            if (row.user, row.domain) != (user, domain):
                continue
            if row.contact == contact or (contact is None and row.network_ip == network_ip):
                return row
        return None

    def _new_contact(self, user: str, network_ip: str) -> str:
        port = self._next_port
        self._next_port += 1
        return f"sip:{user}@{network_ip}:{port}"

    def _remove(self, user: str, domain: str, contact: str | None) -> list[Registration]:
        with self._lock:
            gone = [
                row
                for row in self._rows
                if (row.user, row.domain) == (user, domain) and contact in (None, row.contact)
            ]
            self._rows = [row for row in self._rows if row not in gone]
            for row in gone:
                if self._core_rows.get((user, domain)) is row:
                    del self._core_rows[(user, domain)]
            return gone

    def _common(self, event: Event, row: Registration, expires: int) -> None:
        for name, value in (
            ("profile-name", self._profile),
            ("from-user", row.user),
            ("from-host", row.domain),
            ("contact", row.contact_header),
            ("call-id", row.call_id),
            ("rpid", "unknown"),
            ("status", "Registered(UDP)"),
            ("expires", str(expires)),
            ("to-user", row.user),
            ("to-host", row.domain),
            ("network-ip", row.network_ip),
            ("network-port", row.network_port),
        ):
            event.add(name, value)

    def _pre_register(self, row: Registration, expires: int) -> Event:
        event = self._switch.create("CUSTOM", _PRE_REGISTER, "sofia::pre_register")
        self._common(event, row, expires)
        event.add("user-agent", row.user_agent)
        return event

    def _register_attempt(self, row: Registration, expires: int, result: str) -> Event:
        event = self._switch.create("CUSTOM", _REGISTER_ATTEMPT, "sofia::register_attempt")
        self._common(event, row, expires)
        for name, value in (
            ("username", row.user),
            ("realm", row.domain),
            ("user-agent", row.user_agent),
            ("auth-result", result),
        ):
            event.add(name, value)
        return event

    def _register_event(self, row: Registration, *, update: bool) -> Event:
        event = self._switch.create("CUSTOM", _REGISTER, "sofia::register")
        for name, value in (
            ("profile-name", self._profile),
            ("from-user", row.user),
            ("from-host", row.domain),
            ("presence-hosts", row.domain),
            ("contact", row.contact_header),
            ("call-id", row.call_id),
            ("rpid", "unknown"),
            ("status", "Registered(UDP)"),
            ("expires", str(row.expires)),
            ("to-user", row.user),
            ("to-host", row.domain),
            ("network-ip", row.network_ip),
            ("network-port", row.network_port),
            ("username", row.user),
            ("realm", row.domain),
            ("user-agent", row.user_agent),
        ):
            event.add(name, value)
        if update:
            event.add("update-reg", "true")
        self._add_directory_variables(event, row)
        return event

    def _unregister_event(self, row: Registration) -> Event:
        event = self._switch.create("CUSTOM", _UNREGISTER, "sofia::unregister")
        for name, value in (
            ("profile-name", self._profile),
            ("username", row.user),
            ("from-user", row.user),
            ("from-host", row.domain),
            ("contact", row.contact_header),
            ("call-id", row.call_id),
            ("rpid", "unknown"),
            ("realm", row.domain),
            ("network-ip", row.network_ip),
            ("network-port", row.network_port),
            ("user-agent", row.user_agent),
            ("expires", "0"),
        ):
            event.add(name, value)
        self._add_directory_variables(event, row)
        return event

    @staticmethod
    def _add_directory_variables(event: Event, row: Registration) -> None:
        # The user's directory entry (params and variables) is appended to register/unregister events; these
        # are the ones of the recorded test directory.
        for name, value in (
            ("sip_number_alias", row.user),
            ("sip_auth_username", row.user),
            ("sip_auth_realm", row.domain),
            ("number_alias", row.user),
            ("user_name", row.user),
            ("domain_name", row.domain),
            ("user_context", "default"),
            ("effective_caller_id_name", f"Ext {row.user}"),
            ("effective_caller_id_number", row.user),
        ):
            event.add(name, value)

    def _fire_message_query(self, row: Registration) -> None:
        query = self._switch.create("MESSAGE_QUERY", _MESSAGE_QUERY)
        query.add("Message-Account", f"sip:{row.user}@{row.domain}")
        query.add("VM-Sofia-Profile", self._profile)
        query.add("VM-Call-ID", row.call_id)
        self._fire(query)
        waiting = self._switch.create("MESSAGE_WAITING", _MESSAGE_WAITING)
        waiting.add("MWI-Messages-Waiting", "no")
        waiting.add("MWI-Message-Account", f"sip:{row.user}@{row.domain}")
        waiting.add("Sofia-Profile", self._profile)
        waiting.add("Call-ID", row.call_id)
        self._fire(waiting)
