"""Ordered deliveries under concurrency on PostgreSQL: a text deciding to wait and the event that should wake it
(an older text finishing, a phone registering) never miss each other, whichever transaction commits first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fspbx_sms.core import outbox
from fspbx_sms.core.phone_events import PhoneEvents
from fspbx_sms.core.routing import RoutingPolicy
from fspbx_sms.core.sip_delivery import SipDelivery
from fspbx_sms.db import make_session_factory
from fspbx_sms.esl.events import Registration
from fspbx_sms.models import Direction, Job, JobKind, JobState, Message, Origin, SipRegistration

TARGET = "1001@pbx.test"
BACKOFF = outbox.Backoff(initial=0.1, maximum=1.0)


@pytest.fixture
def postgres_engine(database_url, db_engine):
    """The test's database; the race exists only where writers run side by side (PostgreSQL)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: these interleavings cannot happen there")
    return db_engine


def _running_sip_job(engine, worker: str) -> int:
    """A text to the extension, its SIP job claimed by ``worker``."""
    with Session(engine) as session:
        message = Message(direction=Direction.INBOUND, origin=Origin.CARRIER, body="hi", remote_numbers=["+1555"])
        job = outbox.enqueue(session, JobKind.SIP, message, TARGET, max_attempts=5)
        session.add(message)
        session.commit()
        job_id = job.id
    with Session(engine) as session, session.begin():
        [claimed] = outbox.claim(session, worker, lease_seconds=60)
        assert claimed.id == job_id
    return job_id


def _state(engine, job_id: int) -> JobState:
    with Session(engine) as session:
        return session.scalars(select(Job.state).where(Job.id == job_id)).one()


def _while_deciding_to_wait(engine, job_id: int, worker: str, reason: str, concurrently: Callable[[], None]) -> None:
    """Record ``job_id``'s Wait and hold that transaction open while ``concurrently`` runs in another thread,
    then commit; the other thread's transaction ends after ours."""
    delivery = SipDelivery(make_session_factory(engine), [], result_timeout=5)
    other = threading.Thread(target=concurrently)
    with Session(engine) as session, session.begin():
        outcome = outbox.Wait(reason)
        job = outbox.record(session, job_id, worker, outcome, BACKOFF)
        delivery.finished(session, job, outcome)
        other.start()
        time.sleep(0.5)  # the other transaction runs now, up to whatever it must wait for
    other.join(timeout=10)
    assert not other.is_alive()


def test_an_older_text_finishing_wakes_a_newer_one_deciding_to_wait(postgres_engine):
    """Text B parks behind text A while A's result is being recorded: B is due afterwards, not stuck."""
    older = _running_sip_job(postgres_engine, "worker-a")
    newer = _running_sip_job(postgres_engine, "worker-b")
    delivery = SipDelivery(make_session_factory(postgres_engine), [], result_timeout=5)

    def older_finishes() -> None:
        with Session(postgres_engine) as session, session.begin():
            outcome = outbox.Done(detail="phones accepted")
            job = outbox.record(session, older, "worker-a", outcome, BACKOFF)
            delivery.finished(session, job, outcome)

    _while_deciding_to_wait(postgres_engine, newer, "worker-b", f"an older text to {TARGET} goes first",
                            older_finishes)
    assert _state(postgres_engine, older) == JobState.DONE
    assert _state(postgres_engine, newer) == JobState.PENDING


def test_a_phone_registering_wakes_a_text_deciding_its_extension_is_offline(postgres_engine):
    """The text found no device; the phone registers before that decision is committed: the text is due."""
    job_id = _running_sip_job(postgres_engine, "worker-a")
    policy = RoutingPolicy(max_attempts=5, default_region="US")
    events = PhoneEvents(make_session_factory(postgres_engine), policy, notify=lambda jobs=1: None)
    registration = Registration(
        kind="register", user="1001", domain="pbx.test", contact="sip:1001@192.0.2.10:5060", call_id="c-1",
        expires=3600, network_ip="192.0.2.10", profile="internal", user_agent="Yealink T54W", headers={}, node="fs1",
    )
    _while_deciding_to_wait(postgres_engine, job_id, "worker-a", f"{TARGET} has no registered device",
                            lambda: events.registration(registration))
    with Session(postgres_engine) as session:
        assert len(session.scalars(select(SipRegistration)).all()) == 1
    assert _state(postgres_engine, job_id) == JobState.PENDING
