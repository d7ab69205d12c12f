"""The FreeSWITCH bridge assembled in the test process: ESL clients (one per simulated node, over real TCP),
the phone-event callbacks, the SIP delivery handler and outbox workers, on the test's real database.

No tests here; the ``test_bridge_*`` modules use :class:`Bridge`. The gevent hub runs in the test's thread
and the simulators in their own threads, so waiting is done with :func:`wait_until` (``gevent.sleep``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import gevent
from sqlalchemy import select
from sqlalchemy.orm import Session

from fspbx_sms.carriers import InboundMessage
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.outbox import Backoff
from fspbx_sms.core.phone_events import PhoneEvents
from fspbx_sms.core.routing import RoutingPolicy, store_carrier_events
from fspbx_sms.core.sip_delivery import SipDelivery
from fspbx_sms.core.workers import WorkerPool
from fspbx_sms.db import make_engine, make_session_factory, session_scope
from fspbx_sms.esl import EslClient
from fspbx_sms.models import (
    CarrierAccount,
    Domain,
    Extension,
    Job,
    JobKind,
    Message,
    MessagingNumber,
    SipDeviceDelivery,
    SipRegistration,
)
from tests.esl_simulator import EslSimulator

DOMAIN = "pbx.test"
TEXTER = "+15557654321"


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the gevent hub run until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        gevent.sleep(0.02)


class Bridge:
    """One gateway process's FreeSWITCH side, built like ``fspbx_sms.service`` builds it."""

    def __init__(
        self,
        database_url: str,
        nodes: dict[str, EslSimulator],
        *,
        max_bytes: int = 1300,
        waiting_email_after: float | None = None,
        result_timeout: float = 3.0,
        heartbeat_timeout: float = 30.0,
        media: MediaLibrary | None = None,
    ):
        self.engine = make_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        self.nodes = nodes
        self._options = (max_bytes, waiting_email_after, result_timeout, heartbeat_timeout)
        self.media = media
        self.policy = RoutingPolicy(max_attempts=5, default_region="US")
        self.clients: list[EslClient] = []
        self.pool: WorkerPool | None = None

    def start(self) -> Bridge:
        """Connect to every node and start the workers; returns once every node is connected."""
        max_bytes, waiting_email_after, result_timeout, heartbeat_timeout = self._options
        delivery = SipDelivery(
            self.sessions,
            self.clients,
            result_timeout,
            max_bytes=max_bytes,
            waiting_email_after=waiting_email_after,
            media=self.media,
            base_url="https://sms.example.com",
        )
        self.pool = WorkerPool(
            self.sessions,
            {JobKind.SIP: delivery},
            size=4,
            lease_seconds=30,
            backoff=Backoff(0.05, 0.2),
            poll_interval=0.05,
        )
        events = PhoneEvents(self.sessions, self.policy, self.pool.notify, self.media)
        self.clients.extend(
            EslClient(
                simulator.host,
                simulator.port,
                "ClueCon",
                name=name,
                on_phone_text=events.phone_text,
                on_registration=events.registration,
                on_connected=events.connected,
                on_resync=events.resync,
                on_voicemail=events.voicemail,
                connect_timeout=2.0,
                command_timeout=2.0,
                heartbeat_timeout=heartbeat_timeout,
                backoff_initial=0.02,
                backoff_max=0.2,
            )
            for name, simulator in self.nodes.items()
        )
        for client in self.clients:
            client.start()
        for client in self.clients:
            assert client.wait_connected(5)
        self.pool.start()
        return self

    def stop(self) -> None:
        """Stop the workers and the connections (as the service does on SIGTERM)."""
        if self.pool is not None:
            self.pool.stop(timeout=2)
        for client in self.clients:
            client.stop()
        self.engine.dispose()

    # --- provisioning and texts ------------------------------------------------------------------------

    def provision(self, *extensions: str, email: str = "", without_number: tuple[str, ...] = ()) -> None:
        """The domain, its extensions, a carrier account, and a number ``+1555000<ext>`` per extension
        (except those ``without_number``)."""
        with session_scope(self.sessions) as session:
            domain = Domain(name=DOMAIN)
            account = CarrierAccount(
                provider="telnyx", name="main", credentials_encrypted="-", webhook_secret="secret"
            )
            session.add_all([domain, account])
            for number in extensions:
                extension = Extension(domain=domain, number=number)
                session.add(extension)
                if number in without_number:
                    continue
                session.add(
                    MessagingNumber(
                        e164=f"+1555000{number}",
                        domain=domain,
                        carrier_account=account,
                        extension=extension,
                        email=email,
                    )
                )

    def text_from_outside(self, extension: str, body: str, message_id: str) -> None:
        """A carrier webhook's text to the extension's number, stored the way the webhook stores it."""
        with session_scope(self.sessions) as session:
            account = session.scalars(select(CarrierAccount)).one()
            inbound = InboundMessage(
                carrier_message_id=message_id,
                from_number=TEXTER,
                to_numbers=(f"+1555000{extension}",),
                text=body,
                media=(),
                received_at=datetime.now(UTC),
                raw={},
            )
            store_carrier_events(session, account, [inbound], self.policy)
        assert self.pool is not None
        self.pool.notify()

    # --- what tests look at ----------------------------------------------------------------------------

    def session(self) -> Session:
        """A session for the test's own queries (close it, or use it as a context manager)."""
        return self.sessions()

    def messages(self) -> list[Message]:
        with self.session() as session:
            return list(session.scalars(select(Message).order_by(Message.id)))

    def jobs(self) -> list[Job]:
        with self.session() as session:
            return list(session.scalars(select(Job).order_by(Job.id)))

    def devices(self, user: str) -> list[SipRegistration]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(SipRegistration).where(SipRegistration.user == user).order_by(SipRegistration.id)
                )
            )

    def device_deliveries(self) -> list[SipDeviceDelivery]:
        with self.session() as session:
            return list(session.scalars(select(SipDeviceDelivery).order_by(SipDeviceDelivery.id)))
