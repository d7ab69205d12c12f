"""What the core does with FreeSWITCH events: store phone texts, and wake deliveries when phones come online.

These run in the ESL event-dispatch greenlet, so each does one short transaction and returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.core.routing import RoutingPolicy, store_phone_text
from fspbx_sms.db import session_scope
from fspbx_sms.esl import PhoneText, Registration
from fspbx_sms.models import JobKind

log = logging.getLogger(__name__)


class PhoneEvents:
    """Callbacks for :class:`fspbx_sms.esl.EslClient`."""

    def __init__(self, sessions: sessionmaker[Session], policy: RoutingPolicy, notify: Callable[[], None]):
        self._sessions = sessions
        self._policy = policy
        self._notify = notify

    def phone_text(self, text: PhoneText) -> None:
        """Store a text a phone sent (once per FreeSWITCH event) and queue its delivery."""
        try:
            with session_scope(self._sessions) as session:
                message = store_phone_text(session, text, self._policy)
        except IntegrityError:
            message = None  # the same event stored concurrently by another worker: nothing to do
        if message is None:
            log.info("phone text %s already stored", text.dedupe_key)
            return
        log.info(
            "phone text from %s@%s to %s stored as message %s",
            text.from_user,
            text.from_host,
            text.to_user,
            message.id,
        )
        self._notify()

    def registration(self, registration: Registration) -> None:
        """A device registered: deliver what waits for its extension."""
        if registration.kind != "register":
            return
        with session_scope(self._sessions) as session:
            woken = outbox.wake(session, JobKind.SIP, f"{registration.user}@{registration.domain}")
        if woken:
            log.info(
                "%s@%s registered: %d waiting text(s) released", registration.user, registration.domain, woken
            )
            self._notify()

    def connected(self) -> None:
        """(Re)connected to FreeSWITCH: registrations may have changed meanwhile: retry every wait."""
        with session_scope(self._sessions) as session:
            woken = outbox.wake(session, JobKind.SIP)
        if woken:
            self._notify()
