"""A pool of worker greenlets that claim outbox jobs and run them through one handler per job kind."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import deque
from typing import Protocol

import gevent
import gevent.event
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.db import session_scope
from fspbx_sms.models import Job, JobKind

log = logging.getLogger(__name__)


class JobHandler(Protocol):
    """Runs one kind of job. ``run`` does the side effect; ``finished`` records it with the job's outcome."""

    def run(self, job: Job) -> outbox.Outcome:
        """Perform the job (no database session is open); return what happened."""

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Update the message and the audit log in the transaction that stores the job's new state."""


class WorkerPool:
    """``size`` greenlets claiming due jobs; woken by :meth:`notify`, else polling every few seconds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        handlers: dict[JobKind, JobHandler],
        *,
        size: int,
        lease_seconds: float,
        backoff: outbox.Backoff,
        poll_interval: float,
    ):
        self._sessions = sessions
        self._handlers = handlers
        self._size = size
        self._lease_seconds = lease_seconds
        self._backoff = backoff
        self._poll_interval = poll_interval
        #: One event per idle worker, oldest idle first; ``notify`` sets as many as there are new jobs.
        self._idle: deque[gevent.event.Event] = deque()
        #: Notifications that found no idle worker: as many busy workers look again before they sleep.
        self._missed = 0
        self._greenlets: list[gevent.Greenlet] = []
        self._running = False
        self.worker_prefix = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        """Spawn the worker greenlets."""
        self._running = True
        self._greenlets = [gevent.spawn(self._work, f"{self.worker_prefix}:{n}") for n in range(self._size)]

    def stop(self, timeout: float = 10.0) -> None:
        """Let running jobs finish (up to ``timeout``), then kill the workers."""
        self._running = False
        while self._idle:
            self._idle.popleft().set()
        gevent.joinall(self._greenlets, timeout=timeout)
        gevent.killall(self._greenlets)

    def notify(self, jobs: int = 1) -> None:
        """``jobs`` new jobs were committed in this process: wake that many idle workers now (not every worker,
        which would send them all to claim the same row), instead of at their next poll."""
        for _ in range(max(jobs, 1)):
            if self._idle:
                self._idle.popleft().set()
            elif self._missed < self._size:
                self._missed += 1

    def _work(self, worker_id: str) -> None:
        while self._running:
            try:
                ran = self.run_once(worker_id)
            except Exception:
                log.exception("outbox worker %s: unexpected error; pausing before the next claim", worker_id)
                ran = False
            if ran or not self._running:
                continue
            if self._missed:
                # A notification came while this worker was busy and nobody was idle: look again now.
                self._missed -= 1
                continue
            wakeup = gevent.event.Event()
            self._idle.append(wakeup)
            if not wakeup.wait(self._poll_interval) and wakeup in self._idle:
                self._idle.remove(wakeup)

    def run_once(self, worker_id: str) -> bool:
        """Claim and run one due job; return False when nothing was due."""
        with session_scope(self._sessions) as session:
            jobs = outbox.claim(session, worker_id, self._lease_seconds)
        if not jobs:
            return False
        job = jobs[0]
        handler = self._handlers.get(job.kind)
        if handler is None:
            outcome: outbox.Outcome = outbox.Fail(f"no handler for job kind {job.kind}")
        else:
            try:
                outcome = handler.run(job)
            except Exception as err:
                log.exception("job %s (%s) raised; it will be retried", job.id, job.kind)
                outcome = outbox.Retry(f"internal error: {type(err).__name__}: {err}")
        with session_scope(self._sessions) as session:
            stored = outbox.record(session, job.id, worker_id, outcome, self._backoff)
            if stored is None:
                log.warning("job %s: lease lost before its outcome was recorded; outcome dropped", job.id)
            elif handler is not None:
                handler.finished(session, stored, outcome)
        log.info("job %s %s %s -> %s", job.id, job.kind, job.target, type(outcome).__name__.lower())
        return True
