"""Retention: old finished messages go with everything attached; queued texts and shared media stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fspbx_sms.core import outbox
from fspbx_sms.core.retention import cutoff_for, purge_before, purge_early_statuses
from fspbx_sms.models import (
    CarrierAccount,
    Direction,
    EarlyStatus,
    Job,
    JobKind,
    JobState,
    Media,
    Message,
    MessageEvent,
    Origin,
    utcnow,
)


def _message(session: Session, age_days: int, *, job_state: JobState, media_key: str | None = None) -> Message:
    message = Message(direction=Direction.INBOUND, origin=Origin.CARRIER, body=f"{age_days} days old",
                      created_at=utcnow() - timedelta(days=age_days),
                      events=[MessageEvent(kind="webhook", detail="received")])
    if media_key:
        message.media.append(Media(content_type="image/png", storage_key=media_key))
    session.add(message)
    outbox.enqueue(session, JobKind.SIP, message, "1001@pbx.test", max_attempts=3, state=job_state)
    return message


def test_purge_removes_old_finished_messages_only(db_engine):
    """Old + done → gone with media rows, jobs and events; old but still queued, or recent → kept."""
    with Session(db_engine) as session:
        _message(session, 100, job_state=JobState.DONE, media_key="aa/only-old")
        _message(session, 90, job_state=JobState.DEAD, media_key="bb/shared")
        _message(session, 95, job_state=JobState.WAITING)
        _message(session, 2, job_state=JobState.DONE, media_key="bb/shared")
        session.commit()
    with Session(db_engine) as session:
        result = purge_before(session, cutoff_for(30), batch=1)
        session.commit()
    assert result.messages == 2
    assert result.orphaned_storage_keys == ("aa/only-old",)
    with Session(db_engine) as session:
        assert sorted(session.scalars(select(Message.body))) == ["2 days old", "95 days old"]
        assert session.scalar(select(func.count()).select_from(MessageEvent)) == 2
        assert session.scalar(select(func.count()).select_from(Job)) == 2
        assert list(session.scalars(select(Media.storage_key))) == ["bb/shared"]


def test_status_callbacks_for_messages_never_ours_are_forgotten_after_a_day(db_engine):
    """Kept callbacks older than the cutoff go; recent ones stay (their send's answer may still come)."""
    with Session(db_engine) as session:
        account = CarrierAccount(name="acct", provider="telnyx", credentials_encrypted="x", webhook_secret="s")
        session.add(account)
        session.flush()
        for age_hours, message_id in ((30, "old"), (2, "recent")):
            session.add(EarlyStatus(carrier_account_id=account.id, carrier_message_id=message_id, status="delivered",
                                    created_at=utcnow() - timedelta(hours=age_hours)))
        session.commit()
    with Session(db_engine) as session, session.begin():
        assert purge_early_statuses(session, cutoff_for(1)) == 1
    with Session(db_engine) as session:
        assert [row.carrier_message_id for row in session.scalars(select(EarlyStatus))] == ["recent"]
