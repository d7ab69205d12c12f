"""Home: today's counts, FreeSWITCH connections, and carriers that are failing."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template
from flask_login import login_required
from sqlalchemy import func, select

from fspbx_sms.db import session_scope
from fspbx_sms.models import CarrierAccount, Direction, Job, JobKind, JobState, Message, MessageStatus, utcnow
from fspbx_sms.web import services_of
from fspbx_sms.web.access import current_scope

bp = Blueprint("home", __name__)
bp.before_request(login_required(lambda: None))

#: Carriers with a failed send this recent are listed as failing.
FAILING_WINDOW = timedelta(hours=24)


@bp.get("/")
def index() -> str:
    """The overview for the user's scope."""
    scope = current_scope()
    services = services_of(current_app)
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope(services.sessions) as session:
        today = scope.filter(select(Message.direction, Message.status, func.count()), Message).where(
            Message.created_at >= midnight
        )
        counts = {"inbound": 0, "outbound": 0, "failed": 0}
        for direction, status, count in session.execute(today.group_by(Message.direction, Message.status)):
            counts[Direction(direction).value] += count
            if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
                counts["failed"] += count
        failing = session.execute(
            scope.filter(select(CarrierAccount.name, func.count(Job.id)), Message)
            .select_from(Job)
            .join(Message, Job.message_id == Message.id)
            .join(CarrierAccount, Message.carrier_account_id == CarrierAccount.id)
            .where(Job.kind == JobKind.CARRIER, Job.state == JobState.DEAD, Job.updated_at >= now - FAILING_WINDOW)
            .group_by(CarrierAccount.name)
        ).all()
        waiting = session.scalar(
            scope.filter(select(func.count(Job.id)), Message)
            .select_from(Job)
            .join(Message, Job.message_id == Message.id)
            .where(Job.kind == JobKind.SIP, Job.state == JobState.WAITING)
        )
        devices = list(session.scalars(scope.registrations()))
    return render_template(
        "home/index.html",
        devices=devices,
        counts=counts,
        nodes=[client.status() for client in services.esl_clients] if scope.is_admin else [],
        failing=failing,
        waiting=waiting,
    )
