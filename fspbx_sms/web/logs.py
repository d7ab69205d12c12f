"""Status → Logs → Messages: filterable message table, detail with the audit log, retry, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, or_
from werkzeug.datastructures import MultiDict

from fspbx_sms.core.compose import ComposeError, retry
from fspbx_sms.db import session_scope
from fspbx_sms.models import Direction, Message, MessageStatus
from fspbx_sms.web import services_of
from fspbx_sms.web.access import current_scope
from fspbx_sms.web.redact import redact
from fspbx_sms.web.scope import Scope

bp = Blueprint("logs", __name__, url_prefix="/logs")
bp.before_request(login_required(lambda: None))

PAGE_SIZE = 50
CSV_COLUMNS = ("id", "date", "direction", "from", "to", "text", "type", "segments", "status", "carrier", "error")


def _day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def filtered(scope: Scope, args: MultiDict):
    """The scoped message query narrowed by the filter form (date range, direction, status, number, text)."""
    query = scope.select(Message)
    start, end = _day(args.get("start", "")), _day(args.get("end", ""))
    if start:
        query = query.where(Message.created_at >= start)
    if end:
        query = query.where(Message.created_at < end + timedelta(days=1))
    if args.get("direction") in {d.value for d in Direction}:
        query = query.where(Message.direction == Direction(args["direction"]))
    if args.get("status") in {s.value for s in MessageStatus}:
        query = query.where(Message.status == MessageStatus(args["status"]))
    number = args.get("number", "").strip()
    if number:
        query = query.where(
            or_(
                Message.our_number.contains(number, autoescape=True),
                Message.remote_numbers_key.contains(number, autoescape=True),
            )
        )
    text = args.get("text", "").strip()
    if text:
        query = query.where(Message.body.contains(text, autoescape=True))
    return query


def row_of(message: Message) -> dict:
    """A message as one row of the table and of the CSV."""
    ours = message.our_number or (message.extension.number if message.extension else "")
    theirs = ", ".join(message.remote_numbers or [])
    inbound = message.direction is Direction.INBOUND
    return {
        "id": message.id,
        "date": message.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "direction": message.direction.value,
        "from": theirs if inbound else ours,
        "to": ours if inbound else theirs,
        "text": message.body,
        "type": "MMS" if message.media else "SMS",
        "segments": message.segments,
        "status": message.status.value,
        "carrier": message.carrier_account.name if message.carrier_account else "",
        "error": " ".join(filter(None, (message.error_code, message.error_text))),
    }


@bp.get("/messages")
def messages() -> str:
    """The message table, newest first, PAGE_SIZE per page."""
    scope = current_scope()
    page = max(request.args.get("page", 1, type=int), 1)
    with session_scope(services_of(current_app).sessions) as session:
        query = filtered(scope, request.args)
        total = session.scalar(query.with_only_columns(func.count()).order_by(None))
        rows = [
            row_of(m)
            for m in session.scalars(query.order_by(Message.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))
        ]
        args = request.args.to_dict()
        args.pop("page", None)
        return render_template(
            "logs/messages.html", rows=rows, total=total, page=page, pages=max((total - 1) // PAGE_SIZE + 1, 1),
            args=args, statuses=list(MessageStatus), directions=list(Direction),
        )


def _spreadsheet_safe(value: str) -> str:
    """Texts come from strangers: a cell starting like a formula is prefixed so spreadsheets show it as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.get("/messages.csv")
def export() -> Response:
    """Every message matching the filters as CSV."""
    scope = current_scope()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    with session_scope(services_of(current_app).sessions) as session:
        for message in session.scalars(filtered(scope, request.args).order_by(Message.id)):
            row = row_of(message)
            row["text"], row["error"] = _spreadsheet_safe(row["text"]), _spreadsheet_safe(row["error"])
            writer.writerow(row)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=messages.csv"},
    )


@bp.get("/messages/<int:message_id>")
def detail(message_id: int) -> str:
    """One message with its jobs and full event history, raw payloads with secrets redacted."""
    with session_scope(services_of(current_app).sessions) as session:
        message = current_scope().get(session, Message, message_id)
        return render_template(
            "logs/detail.html",
            message=message,
            row=row_of(message),
            events=[(event, redact(event.raw)) for event in message.events],
            jobs=message.jobs,
            retryable=message.status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED),
        )


@bp.post("/messages/<int:message_id>/retry")
def retry_message(message_id: int) -> Response:
    """Send a failed message again."""
    scope = current_scope()
    services = services_of(current_app)
    with session_scope(services.sessions) as session:
        message = scope.get(session, Message, message_id)
        try:
            count = retry(session, message, scope.username)
        except ComposeError as err:
            flash(str(err), "error")
        else:
            flash(f"Retrying {count} delivery.", "ok")
    services.notify_workers()
    return redirect(url_for("logs.detail", message_id=message_id))
