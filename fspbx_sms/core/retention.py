"""Retention: messages (with their media, jobs and audit log) older than a configured age are purged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from fspbx_sms.models import EarlyStatus, Job, JobState, Media, Message, MessageEvent, utcnow


@dataclass(frozen=True)
class PurgeResult:
    """What one purge removed, and the stored media files nothing refers to any more."""

    messages: int
    orphaned_storage_keys: tuple[str, ...]


def purge_before(session: Session, cutoff: datetime, batch: int = 500) -> PurgeResult:
    """Delete messages created before ``cutoff`` whose jobs are all finished, in batches; never a queued text."""
    unfinished = exists().where(Job.message_id == Message.id, Job.state.not_in([JobState.DONE, JobState.DEAD]))
    removed = 0
    keys: set[str] = set()
    while True:
        ids = list(session.scalars(
            select(Message.id).where(Message.created_at < cutoff, ~unfinished).order_by(Message.id).limit(batch)
        ))
        if not ids:
            break
        keys.update(k for k in session.scalars(select(Media.storage_key).where(Media.message_id.in_(ids))) if k)
        for model in (MessageEvent, Job, Media):
            session.execute(delete(model).where(model.message_id.in_(ids)))
        session.execute(delete(Message).where(Message.id.in_(ids)))
        removed += len(ids)
    still_used = set(session.scalars(select(Media.storage_key).where(Media.storage_key.in_(keys)))) if keys else set()
    return PurgeResult(removed, tuple(sorted(keys - still_used)))


def purge_early_statuses(session: Session, cutoff: datetime) -> int:
    """Forget status callbacks kept since before ``cutoff`` for messages that never turned out to be ours."""
    return session.execute(delete(EarlyStatus).where(EarlyStatus.created_at < cutoff)).rowcount


def cutoff_for(days: int) -> datetime:
    """The moment before which messages are older than ``days`` days."""
    return utcnow() - timedelta(days=days)
