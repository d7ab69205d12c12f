"""The outbox: leases, backoff, dead jobs, and two processes on one PostgreSQL never running a job twice."""

from __future__ import annotations

import json
import random
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from fspbx_sms.core import outbox
from fspbx_sms.models import (
    CarrierAccount,
    Direction,
    Job,
    JobKind,
    JobState,
    Message,
    MessageStatus,
    Origin,
    utcnow,
)
from tests.service_process import ServiceProcess

BACKOFF = outbox.Backoff(initial=2.0, maximum=60.0)


def _message_with_job(session: Session, *, max_attempts: int = 3, target: str = "+15557654321") -> Job:
    message = Message(direction=Direction.OUTBOUND, origin=Origin.API, body="hi", remote_numbers=[target])
    job = outbox.enqueue(session, JobKind.CARRIER, message, target, max_attempts=max_attempts)
    session.add(message)
    session.commit()
    return job


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after():
    """Attempt n waits between half and all of initial·2^(n-1), capped; Retry-After wins when longer."""
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 60.0), (20, 60.0)]:
        delays = [BACKOFF.delay(attempt, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10  # really jittered
    assert BACKOFF.delay(1, retry_after=30.0, rng=rng) == 30.0


def test_a_claimed_job_is_leased_to_one_worker(db_engine):
    """A due job goes to the first claimer; a second claimer gets nothing while the lease holds."""
    with Session(db_engine, expire_on_commit=False) as session:
        job = _message_with_job(session)
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        claimed = outbox.claim(session, "worker-a", lease_seconds=60)
    assert [j.id for j in claimed] == [job.id]
    assert (claimed[0].state, claimed[0].attempts, claimed[0].lease_owner) == (JobState.RUNNING, 1, "worker-a")
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        assert outbox.claim(session, "worker-b", lease_seconds=60) == []


def test_retries_back_off_then_the_job_is_dead_with_its_last_error(db_engine):
    """Each failure reschedules into the future; after max_attempts the job is dead and keeps the error."""
    with Session(db_engine, expire_on_commit=False) as session:
        job = _message_with_job(session, max_attempts=3)
    for attempt in range(1, 4):
        with Session(db_engine, expire_on_commit=False) as session, session.begin():
            session.execute(update(Job).values(next_run_at=utcnow()))  # skip the wait
            assert [j.id for j in outbox.claim(session, "w", lease_seconds=60)] == [job.id]
        with Session(db_engine, expire_on_commit=False) as session, session.begin():
            stored = outbox.record(session, job.id, "w", outbox.Retry(f"timeout #{attempt}"), BACKOFF)
            assert stored is not None
            if attempt < 3:
                assert stored.state == JobState.PENDING
                assert stored.next_run_at > utcnow() + timedelta(seconds=0.5)
    with Session(db_engine, expire_on_commit=False) as session:
        dead = session.get(Job, job.id)
        assert (dead.state, dead.attempts, dead.last_error) == (JobState.DEAD, 3, "timeout #3")
        assert outbox.claim(session, "w", lease_seconds=60) == []


def test_an_expired_lease_is_reclaimed_and_the_old_worker_cannot_record(db_engine):
    """A worker that died keeps nothing: its job is claimed again, and its late outcome is refused."""
    with Session(db_engine, expire_on_commit=False) as session:
        job = _message_with_job(session)
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        outbox.claim(session, "dead-worker", lease_seconds=60)
        session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        claimed = outbox.claim(session, "new-worker", lease_seconds=60)
    assert (claimed[0].lease_owner, claimed[0].attempts) == ("new-worker", 2)
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        assert outbox.record(session, job.id, "dead-worker", outbox.Done(), BACKOFF) is None
        assert outbox.record(session, job.id, "new-worker", outbox.Done(), BACKOFF).state == JobState.DONE


def test_waiting_does_not_use_up_attempts_and_wake_releases_only_its_target(db_engine):
    """Parking for an offline phone is free; waking one extension leaves the others waiting."""
    with Session(db_engine, expire_on_commit=False) as session:
        first = _message_with_job(session, target="1001@pbx.test")
        second = _message_with_job(session, target="1002@pbx.test")
    for _ in range(2):
        with Session(db_engine, expire_on_commit=False) as session, session.begin():
            for claimed in outbox.claim(session, "w", lease_seconds=60, limit=5):
                outbox.record(session, claimed.id, "w", outbox.Wait("offline"), BACKOFF)
        with Session(db_engine, expire_on_commit=False) as session, session.begin():
            assert outbox.wake(session, JobKind.CARRIER, "1001@pbx.test") == 1
    with Session(db_engine, expire_on_commit=False) as session:
        jobs = {j.id: j for j in session.scalars(select(Job))}
    assert (jobs[first.id].state, jobs[first.id].attempts) == (JobState.PENDING, 0)
    assert (jobs[second.id].state, jobs[second.id].attempts) == (JobState.WAITING, 0)


def test_two_service_processes_on_one_postgresql_never_send_a_text_twice(
    database_url, app_env, tmp_path, httpserver, db_engine
):
    """300 queued carrier jobs, two ``fspbx-sms run`` processes: every text POSTed exactly once, both working."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several worker processes share PostgreSQL; SQLite is for one process")
    first = ServiceProcess({**app_env, "FSPBX_SMS_RUN_ESL": "false"}, workdir=tmp_path)
    first.cli("carrier", "add", "--provider", "telnyx", "--name", "t", "--set", "api_key=k",
              "--set", "public_key=" + "A" * 43 + "=", "--set", f"base_url={httpserver.url_for('').rstrip('/')}")
    first.cli("number", "add", "+15550001001", "--carrier", "t", "--extension", "1001@pbx.test")
    with Session(db_engine, expire_on_commit=False) as session:
        account = session.scalars(select(CarrierAccount)).one()
        for n in range(300):
            message = Message(direction=Direction.OUTBOUND, origin=Origin.API, body=f"text {n}",
                              our_number="+15550001001", remote_numbers=["+15557654321"],
                              carrier_account_id=account.id)
            session.add(message)
            outbox.enqueue(session, JobKind.CARRIER, message, "+15557654321", max_attempts=3)
        session.commit()

    texts: list[str] = []

    def telnyx_api(request: Request) -> Response:
        texts.append(request.get_json()["text"])
        time.sleep(0.005)
        body = {"data": {"id": f"id-{len(texts)}-{request.get_json()['text']}", "to": [{"status": "queued"}]}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(telnyx_api)
    second = ServiceProcess({**app_env, "FSPBX_SMS_RUN_ESL": "false"}, workdir=tmp_path / "second")
    (tmp_path / "second").mkdir()
    first.start()
    second.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Session(db_engine, expire_on_commit=False) as session:
                states = set(session.scalars(select(Job.state)))
            if states == {JobState.DONE}:
                break
            time.sleep(0.2)
    finally:
        first.stop()
        second.stop()
    assert states == {JobState.DONE}
    assert sorted(texts) == sorted(f"text {n}" for n in range(300))
    with Session(db_engine, expire_on_commit=False) as session:
        assert set(session.scalars(select(Message.status))) == {MessageStatus.SENT}
    done_line = re.compile(r"job \d+ carrier \+15557654321 -> done")
    assert done_line.search(first.log) and done_line.search(second.log)  # both processes did part of the work


def test_wake_oldest_only_releases_one_job_per_target(db_engine):
    """For ordered deliveries: only the oldest waiting job of each target becomes due."""
    with Session(db_engine, expire_on_commit=False) as session:
        jobs = [_message_with_job(session, target=target) for target in ("1001@a", "1001@a", "1002@a", "1002@a")]
        session.execute(update(Job).values(state=JobState.WAITING))
        session.commit()
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        assert outbox.wake(session, JobKind.CARRIER, "1001@a", oldest_only=True) == 1
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        assert outbox.wake(session, JobKind.CARRIER, oldest_only=True) == 2  # the next of 1001, the first of 1002
    with Session(db_engine, expire_on_commit=False) as session:
        states = {job.id: job.state for job in session.scalars(select(Job))}
    assert [states[job.id] for job in jobs] == [JobState.PENDING, JobState.PENDING, JobState.PENDING, JobState.WAITING]


def test_a_job_queued_behind_an_unfinished_one_starts_waiting(db_engine):
    """Ordered jobs: the first for a target is due at once, later ones wait until the one ahead finishes."""
    def queue(target: str) -> Job:
        with Session(db_engine, expire_on_commit=False) as session:
            message = Message(direction=Direction.INBOUND, origin=Origin.CARRIER, body="hi", remote_numbers=["+1"])
            job = outbox.enqueue_in_order(session, JobKind.SIP, message, target, max_attempts=3)
            session.add(message)
            session.commit()
            return job

    first, second, other = queue("1001@a"), queue("1001@a"), queue("1002@a")
    assert (first.state, second.state, other.state) == (JobState.PENDING, JobState.WAITING, JobState.PENDING)
    with Session(db_engine, expire_on_commit=False) as session, session.begin():
        session.execute(update(Job).where(Job.id == first.id).values(state=JobState.DONE))
        outbox.wake(session, JobKind.SIP, "1001@a", oldest_only=True)
    assert queue("1001@a").state == JobState.WAITING  # the second is due now, but not finished: the third waits
    with Session(db_engine, expire_on_commit=False) as session:
        assert session.get(Job, second.id).state == JobState.PENDING
