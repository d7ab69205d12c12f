"""What the core does with FreeSWITCH events: store phone texts, keep track of every registered device per
node, wake deliveries when phones come online, and store voicemail events.

These run in the ESL event-dispatch greenlet, so each does one short transaction and returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.routing import RoutingPolicy, store_phone_text
from fspbx_sms.core.voicemail_sms import queue_voicemail_notice
from fspbx_sms.db import session_scope
from fspbx_sms.esl import DeviceContact, PhoneText, Registration, VoicemailLeft
from fspbx_sms.models import JobKind, SipRegistration, VoicemailEvent, utcnow

log = logging.getLogger(__name__)


class PhoneEvents:
    """Callbacks for :class:`fspbx_sms.esl.EslClient`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: RoutingPolicy,
        notify: Callable[..., None],
        media: MediaLibrary | None = None,
    ):
        self._sessions = sessions
        self._policy = policy
        self._notify = notify
        self._media = media

    def phone_text(self, text: PhoneText) -> None:
        """Store a text a phone sent (once per FreeSWITCH event) and queue its delivery."""
        try:
            with session_scope(self._sessions) as session:
                message = store_phone_text(session, text, self._policy, self._media)
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
        """Record a device (un)registering; a registration delivers what waits for its extension."""
        address = f"{registration.user}@{registration.domain}"
        with session_scope(self._sessions) as session:
            outbox.lock_target(session, JobKind.SIP, address)
            if registration.kind == "register":
                new = _remember(session, registration)
                woken = outbox.wake(session, JobKind.SIP, address, oldest_only=True)
            else:
                new, woken = False, 0
                _forget(session, registration)
        if new:
            log.info("%s: new device %s on %s", address, registration.user_agent or "?", registration.node)
        if woken:
            log.info("%s registered: %d waiting text(s) released", address, woken)
            self._notify(woken)

    def resync(self, node: str, devices: list[DeviceContact]) -> None:
        """(Re)connected to ``node``: make its registrations exactly what FreeSWITCH lists now."""
        listed = {(d.user, d.domain, d.contact): d for d in devices}
        with session_scope(self._sessions) as session:
            rows = session.scalars(select(SipRegistration).where(SipRegistration.node == node)).all()
            for row in rows:
                device = listed.pop((row.user, row.domain, row.contact), None)
                if device is None:
                    session.delete(row)
                else:
                    row.call_id, row.user_agent, row.profile = device.call_id, device.user_agent, device.profile
            for device in listed.values():
                session.add(
                    SipRegistration(
                        node=node,
                        user=device.user,
                        domain=device.domain,
                        contact=device.contact,
                        profile=device.profile,
                        call_id=device.call_id,
                        user_agent=device.user_agent,
                        network_ip=device.network_ip,
                    )
                )
        log.info("ESL %s: %d registered device(s) after resync", node, len(devices))

    def connected(self) -> None:
        """(Re)connected to FreeSWITCH: registrations may have changed meanwhile: retry every wait."""
        with session_scope(self._sessions) as session:
            woken = outbox.wake(session, JobKind.SIP, oldest_only=True)
        if woken:
            self._notify(woken)

    def voicemail(self, voicemail: VoicemailLeft) -> None:
        """Store a new voicemail as an event the engine can act on (once per ``VM-UUID``)."""
        try:
            with session_scope(self._sessions) as session:
                if session.scalars(select(VoicemailEvent.id).where(VoicemailEvent.vm_uuid == voicemail.uuid)).first():
                    return
                event = VoicemailEvent(
                    node=voicemail.node,
                    user=voicemail.user,
                    domain=voicemail.domain,
                    caller_id_name=voicemail.caller_id_name,
                    caller_id_number=voicemail.caller_id_number,
                    message_len=voicemail.message_len,
                    left_at=(datetime.fromtimestamp(voicemail.timestamp, UTC) if voicemail.timestamp else utcnow()),
                    vm_uuid=voicemail.uuid,
                    file_path=voicemail.file_path,
                )
                session.add(event)
                session.flush()
                notice = queue_voicemail_notice(session, event, self._policy)
        except IntegrityError:
            return  # stored concurrently from another node's copy of the event
        log.info(
            "voicemail for %s@%s stored%s",
            voicemail.user,
            voicemail.domain,
            f"; SMS notice queued as message {notice.id}" if notice else "",
        )
        if notice is not None:
            self._notify()


def _remember(session: Session, registration: Registration) -> bool:
    """Insert or refresh the device's row; True when it is a device we did not know."""
    row = session.scalars(
        select(SipRegistration).where(
            SipRegistration.node == registration.node,
            SipRegistration.user == registration.user,
            SipRegistration.domain == registration.domain,
            SipRegistration.contact == registration.contact_uri,
        )
    ).one_or_none()
    if row is not None:
        row.call_id, row.user_agent, row.updated_at = registration.call_id, registration.user_agent, utcnow()
        return False
    session.add(
        SipRegistration(
            node=registration.node,
            user=registration.user,
            domain=registration.domain,
            contact=registration.contact_uri,
            profile=registration.profile,
            call_id=registration.call_id,
            user_agent=registration.user_agent,
            network_ip=registration.network_ip,
        )
    )
    return True


def _forget(session: Session, registration: Registration) -> None:
    """Remove the device(s) an unregister or expire event names."""
    statement = delete(SipRegistration).where(
        SipRegistration.node == registration.node,
        SipRegistration.user == registration.user,
        SipRegistration.domain == registration.domain,
    )
    if registration.contact_uri:
        statement = statement.where(SipRegistration.contact == registration.contact_uri)
    elif registration.call_id:
        # The socket-disconnection unregister names only the Call-ID (SPEC §3).
        statement = statement.where(SipRegistration.call_id == registration.call_id)
    session.execute(statement)
