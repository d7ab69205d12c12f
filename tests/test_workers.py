"""The worker pool's wake-ups: new jobs run when the pool is told, not at the next poll."""

from __future__ import annotations

import gevent
from sqlalchemy.orm import Session

from fspbx_sms.core import outbox
from fspbx_sms.core.workers import WorkerPool
from fspbx_sms.db import make_session_factory
from fspbx_sms.models import Direction, Job, JobKind, Message, Origin

#: Far longer than any test waits: a job that runs did so because a worker was woken, not because it polled.
POLL = 60.0


class Recorder:
    """A job handler that notes which jobs ran."""

    def __init__(self):
        self.ran: list[int] = []

    def run(self, job: Job) -> outbox.Outcome:
        self.ran.append(job.id)
        return outbox.Done()

    def finished(self, session, job, outcome) -> None:
        """Nothing to record."""


def _queue(db_engine, count: int) -> None:
    with Session(db_engine) as session:
        for n in range(count):
            message = Message(direction=Direction.OUTBOUND, origin=Origin.API, body=f"{n}", remote_numbers=["+1"])
            outbox.enqueue(session, JobKind.CARRIER, message, "+1", max_attempts=3)
            session.add(message)
        session.commit()


def _pool(db_engine, handler: Recorder) -> WorkerPool:
    pool = WorkerPool(make_session_factory(db_engine), {JobKind.CARRIER: handler}, size=4, lease_seconds=30,
                      backoff=outbox.Backoff(0.1, 1.0), poll_interval=POLL)
    pool.start()
    gevent.sleep(0.2)  # every worker found nothing and is idle
    return pool


def _wait_until(condition, timeout: float = 10.0) -> None:
    with gevent.Timeout(timeout):
        while not condition():
            gevent.sleep(0.02)


def test_notify_wakes_idle_workers_for_new_jobs(db_engine):
    """Jobs committed after every worker went idle run as soon as the pool is told, long before a poll."""
    handler = Recorder()
    pool = _pool(db_engine, handler)
    try:
        _queue(db_engine, 3)
        pool.notify(3)
        _wait_until(lambda: len(handler.ran) == 3)
    finally:
        pool.stop()

