"""The outbox: every side effect is a job row, claimed with a lease, retried with backoff, then ``dead``.

Jobs are written in the same transaction as the message they serve (:func:`enqueue`). Workers claim due
jobs with :func:`claim` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes never take the
same job; SQLite serialises writers with ``BEGIN IMMEDIATE``), run them, and record the outcome with
:func:`record` — guarded by the lease, so a worker whose lease ran out cannot overwrite a newer run.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from fspbx_sms.models import Job, JobKind, JobState, Message, MessageStatus, utcnow


@dataclass(frozen=True)
class Done:
    """The job succeeded; ``status`` is the outcome for its destination (e.g. ``sent``)."""

    status: MessageStatus = MessageStatus.SENT
    detail: str = ""
    #: What the other side calls it: the carrier's message id, or FreeSWITCH's Job-UUID.
    reference: str | None = None


@dataclass(frozen=True)
class Retry:
    """The job failed in a way a later attempt may fix (outage, timeout, 5xx, 429)."""

    error: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Fail:
    """The job failed for good (permanent carrier error, nothing to route to)."""

    error: str
    status: MessageStatus = MessageStatus.FAILED
    code: str | None = None


@dataclass(frozen=True)
class Wait:
    """The job cannot run yet (extension offline, FreeSWITCH unreachable); park it until woken."""

    reason: str


Outcome = Done | Retry | Fail | Wait


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt *n* waits a random time up to ``initial * 2**(n-1)``."""

    initial: float = 2.0
    maximum: float = 600.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next attempt; never less than the carrier's ``Retry-After``."""
        ceiling = min(self.maximum, self.initial * 2 ** max(attempt - 1, 0))
        jittered = (rng or random).uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)


def enqueue(
    session: Session,
    kind: JobKind,
    message: Message | None,
    target: str,
    *,
    max_attempts: int,
    state: JobState = JobState.PENDING,
) -> Job:
    """Add a job for ``message`` to the session (the caller commits it together with the message)."""
    job = Job(kind=kind, message=message, target=target, max_attempts=max_attempts, state=state)
    session.add(job)
    return job


def enqueue_in_order(session: Session, kind: JobKind, message: Message, target: str, *, max_attempts: int) -> Job:
    """Add a job that must run after every unfinished job of ``kind`` for ``target`` (texts to one extension).

    With such a job ahead it starts ``waiting`` (the one ahead wakes it when it finishes) instead of being
    claimed only to find it must wait.
    """
    session.flush()  # write the message first, so the lock below is held only for the check and the job
    lock_target(session, kind, target)
    state = JobState.WAITING if unfinished_ahead(session, kind, target) else JobState.PENDING
    return enqueue(session, kind, message, target, max_attempts=max_attempts, state=state)


def unfinished_ahead(session: Session, kind: JobKind, target: str, before_id: int | None = None) -> bool:
    """Whether a job of ``kind`` for ``target`` (older than job ``before_id``, if given) has not finished yet."""
    ahead = select(Job.id).where(
        Job.kind == kind,
        Job.target == target,
        Job.state.in_([JobState.PENDING, JobState.RUNNING, JobState.WAITING]),
    )
    if before_id is not None:
        ahead = ahead.where(Job.id < before_id)
    return session.scalars(ahead.limit(1)).first() is not None


def claim(session: Session, worker_id: str, lease_seconds: float, limit: int = 1) -> list[Job]:
    """Lease up to ``limit`` due jobs (pending and due, or running with an expired lease) to ``worker_id``.

    Each claim counts as an attempt, so a job whose worker died mid-run is still bounded by ``max_attempts``.
    """
    now = utcnow()
    due = (
        select(Job.id)
        .where(
            or_(
                (Job.state == JobState.PENDING) & (Job.next_run_at <= now),
                (Job.state == JobState.RUNNING) & (Job.lease_expires_at < now),
            )
        )
        .order_by(Job.next_run_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(due))
    if not ids:
        return []
    session.execute(
        update(Job)
        .where(Job.id.in_(ids))
        .values(
            state=JobState.RUNNING,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            updated_at=now,
        )
    )
    return list(
        session.scalars(
            select(Job).where(Job.id.in_(ids)).order_by(Job.id).execution_options(populate_existing=True)
        )
    )


def record(session: Session, job_id: int, worker_id: str, outcome: Outcome, backoff: Backoff) -> Job | None:
    """Store ``outcome`` on the job if ``worker_id`` still holds its lease; return the job, or None if not."""
    job = session.scalars(
        select(Job)
        .where(Job.id == job_id, Job.lease_owner == worker_id, Job.state == JobState.RUNNING)
        .with_for_update()
    ).one_or_none()
    if job is None:
        return None
    job.lease_owner = None
    job.lease_expires_at = None
    if isinstance(outcome, Done):
        job.state, job.status, job.last_error = JobState.DONE, outcome.status, None
    elif isinstance(outcome, Wait):
        # Waiting is not a failed attempt: an offline phone must not use up the retries.
        job.state, job.last_error, job.attempts = JobState.WAITING, outcome.reason, max(job.attempts - 1, 0)
    elif isinstance(outcome, Fail):
        job.state, job.status, job.last_error = JobState.DEAD, outcome.status, outcome.error
    elif job.attempts >= job.max_attempts:
        job.state, job.status, job.last_error = JobState.DEAD, MessageStatus.FAILED, outcome.error
    else:
        job.state, job.last_error = JobState.PENDING, outcome.error
        job.next_run_at = utcnow() + timedelta(seconds=backoff.delay(job.attempts, outcome.retry_after))
    return job


def lock_target(session: Session, kind: JobKind, target: str) -> None:
    """Serialise, until this transaction ends, the decisions about ``target``'s ordered jobs.

    On PostgreSQL a job deciding to wait (its extension offline, or an older text first) and a registration or
    an older job finishing and waking the next could each miss the other's uncommitted change, leaving a text
    parked with nobody to wake it. Both take this transaction-scoped advisory lock first, so whichever comes
    second sees what the first committed. SQLite runs one writer at a time already.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(f"{kind}:{target}".encode()))))


def wake(session: Session, kind: JobKind, target: str | None = None, *, oldest_only: bool = False) -> int:
    """Make waiting jobs of ``kind`` (for ``target``, or all) due now; return how many.

    ``oldest_only`` wakes just the oldest waiting job of each target: for deliveries that go out one after
    another, each finished job wakes the next, instead of every waiting job waking only to wait again.
    """
    statement = update(Job).where(Job.kind == kind, Job.state == JobState.WAITING)
    if target is not None:
        statement = statement.where(Job.target == target)
    if oldest_only and target is not None:
        # Two plain statements: PostgreSQL may run "id IN (SELECT min(id) …)" once per waiting row.
        oldest_id = session.scalar(
            select(func.min(Job.id)).where(Job.kind == kind, Job.state == JobState.WAITING, Job.target == target)
        )
        if oldest_id is None:
            return 0
        statement = statement.where(Job.id == oldest_id)
    elif oldest_only:
        oldest = select(func.min(Job.id)).where(Job.kind == kind, Job.state == JobState.WAITING)
        statement = statement.where(Job.id.in_(oldest.group_by(Job.target)))
    now = utcnow()
    return session.execute(statement.values(state=JobState.PENDING, next_run_at=now, updated_at=now)).rowcount
