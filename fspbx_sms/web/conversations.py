"""Conversations: threads grouped by (our number, the other party), replies with pictures, live updates."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import login_required
from sqlalchemy import case, func, or_, select, update

from fspbx_sms.core.compose import ComposeError, compose, sending_numbers
from fspbx_sms.core.media import MediaError, StoredMedia
from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.core.numbers import InvalidNumber
from fspbx_sms.db import session_scope
from fspbx_sms.models import Direction, Extension, Message, MessagingNumber, Origin, utcnow
from fspbx_sms.web import services_of
from fspbx_sms.web.access import current_scope
from fspbx_sms.web.scope import Scope

log = logging.getLogger(__name__)

bp = Blueprint("conversations", __name__, url_prefix="/conversations")
bp.before_request(login_required(lambda: None))

#: How often the live-update stream looks for new messages and status changes.
POLL_SECONDS = 0.5
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
#: Status changes are looked for this far back, so one committed late by another process is not missed.
STATUS_OVERLAP = timedelta(seconds=5)


def conversation_query(scope: Scope, our: str, remote: str):
    """The messages of one conversation that ``scope`` may see (``-``: texts between extensions)."""
    our = "" if our == "-" else our
    return scope.select(Message).where(Message.our_number == our, Message.remote_numbers_key == remote)


def summaries(session, scope: Scope, *, search: str = "", extension_id: int | None = None) -> list[dict]:
    """One row per conversation in scope: last message, unread count; newest first."""
    unread = func.sum(case(((Message.direction == Direction.INBOUND) & ~Message.read, 1), else_=0))
    pair = (Message.our_number, Message.remote_numbers_key)
    grouped = scope.filter(select(*pair, func.max(Message.id), unread), Message).where(
        Message.remote_numbers_key != ""
    )
    if extension_id is not None:
        grouped = grouped.where(Message.extension_id == extension_id)
    rows = session.execute(grouped.group_by(*pair)).all()
    if search:
        hits = scope.filter(select(*pair).distinct(), Message).where(
            or_(
                Message.remote_numbers_key.contains(search, autoescape=True),
                Message.body.contains(search, autoescape=True),
            )
        )
        matching = {tuple(hit) for hit in session.execute(hits)}
        rows = [row for row in rows if (row[0], row[1]) in matching]
    last = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_([row[2] for row in rows])))}
    result = [
        {"our": our, "remote": remote, "last": last[last_id], "unread": int(count or 0)}
        for our, remote, last_id, count in rows
    ]
    result.sort(key=lambda item: item["last"].id, reverse=True)
    return result


def message_json(message: Message) -> dict:
    """A message as the thread view and the live stream show it."""
    return {
        "id": message.id,
        "direction": message.direction.value,
        "body": message.body,
        "status": message.status.value,
        "error": message.error_text or "",
        "time": message.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "media": [
            {
                "url": url_for("media.show", media_id=m.id) if m.storage_key else m.original_url,
                "content_type": m.content_type,
            }
            for m in message.media
            if m.storage_key or m.original_url
        ],
    }


@bp.get("/")
def index() -> str:
    """The conversation list, with search; admins may narrow it to one extension of their domain."""
    scope = current_scope()
    search = request.args.get("q", "").strip()
    extension_id = request.args.get("extension", type=int)
    with session_scope(services_of(current_app).sessions) as session:
        if extension_id is not None:
            scope.get(session, Extension, extension_id)
        extensions = (
            list(session.scalars(scope.select(Extension).order_by(Extension.number))) if scope.is_admin else []
        )
        rows = summaries(session, scope, search=search, extension_id=extension_id)
        return render_template(
            "conversations/index.html", conversations=rows, search=search, extensions=extensions,
            extension_id=extension_id,
        )


def _stored_uploads() -> list[StoredMedia]:
    library = services_of(current_app).media
    try:
        return [
            library.store(upload.read(), upload.mimetype or "")
            for upload in request.files.getlist("pictures")
            if upload.filename
        ]
    except MediaStoreError as err:
        log.error("pictures of a dashboard text not stored: %s", err)
        raise ComposeError("pictures cannot be stored right now (media storage is unavailable); try again") from err


def _send(session, scope: Scope, number: MessagingNumber, to: str) -> Message:
    services = services_of(current_app)
    message = compose(
        session,
        number=number,
        to=to,
        body=request.form.get("body", ""),
        media=_stored_uploads(),
        origin=Origin.DASHBOARD,
        policy=services.policy,
        author=scope.username,
    )
    session.flush()
    if message.segments > 1:
        flash(f"This text goes out as {message.segments} SMS parts (each billed by the carrier).", "ok")
    return message


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | Response | tuple[str, int]:
    """Start a conversation from one of the numbers in scope."""
    scope = current_scope()
    services = services_of(current_app)
    with session_scope(services.sessions) as session:
        numbers = sending_numbers(session, scope.select(MessagingNumber))
        if request.method == "POST":
            number = next((n for n in numbers if str(n.id) == request.form.get("number_id")), None)
            try:
                if number is None:
                    raise ComposeError("choose one of your numbers")
                with session.begin_nested():
                    message = _send(session, scope, number, request.form.get("to", ""))
            except (ComposeError, InvalidNumber, MediaError) as err:
                flash(str(err), "error")
            else:
                session.commit()
                services.notify_workers()
                return redirect(url_for("conversations.thread", our=message.our_number,
                                        remote=message.remote_numbers_key))
        page = render_template("conversations/new.html", numbers=numbers, form=request.form)
        return (page, 400) if request.method == "POST" else page


@bp.get("/<our>/<path:remote>")
def thread(our: str, remote: str) -> str:
    """One conversation as bubbles; opening it marks its inbound messages read."""
    scope = current_scope()
    with session_scope(services_of(current_app).sessions) as session:
        messages = list(session.scalars(conversation_query(scope, our, remote).order_by(Message.id)))
        if not messages:
            abort(404)
        _mark_read(session, scope, our, remote)
        number = session.scalars(scope.select(MessagingNumber).where(MessagingNumber.e164 == our)).one_or_none()
        return render_template(
            "conversations/thread.html",
            our=our,
            remote=remote,
            messages=[message_json(m) for m in messages],
            can_reply=number is not None and len(messages[0].remote_numbers) == 1 and remote.startswith("+"),
            last_id=messages[-1].id,
        )


def _mark_read(session, scope: Scope, our: str, remote: str) -> None:
    ids = scope.filter(select(Message.id), Message).where(
        Message.our_number == our, Message.remote_numbers_key == remote, Message.direction == Direction.INBOUND,
        ~Message.read,
    )
    session.execute(update(Message).where(Message.id.in_(ids)).values(read=True))


@bp.post("/<our>/<path:remote>/read")
def mark_read(our: str, remote: str) -> Response:
    """Mark every inbound message of the conversation read."""
    scope = current_scope()
    with session_scope(services_of(current_app).sessions) as session:
        _mark_read(session, scope, our, remote)
    return Response(status=204)


@bp.post("/<our>/<path:remote>/reply")
def reply(our: str, remote: str) -> Response:
    """Send a text and/or pictures into the conversation."""
    scope = current_scope()
    services = services_of(current_app)
    with session_scope(services.sessions) as session:
        if session.scalars(conversation_query(scope, our, remote).limit(1)).first() is None:
            abort(404)
        number = session.scalars(scope.select(MessagingNumber).where(MessagingNumber.e164 == our)).one_or_none()
        if number is None:
            abort(403, f"{our} is not one of your numbers")
        try:
            with session.begin_nested():
                _send(session, scope, number, remote)
        except (ComposeError, InvalidNumber, MediaError) as err:
            flash(str(err), "error")
    services.notify_workers()
    return redirect(url_for("conversations.thread", our=our, remote=remote))


@bp.get("/<our>/<path:remote>/events")
def events(our: str, remote: str) -> Response:
    """Server-sent events: ``message`` for new messages, ``status`` for status changes of shown ones."""
    scope = current_scope()
    sessions = services_of(current_app).sessions
    with session_scope(sessions) as session:
        if session.scalars(conversation_query(scope, our, remote).limit(1)).first() is None:
            abort(404)
    last_id = request.headers.get("Last-Event-ID", request.args.get("after", "0"))
    last_id = int(last_id) if last_id.isdigit() else 0
    limit = current_app.config.get("SSE_MAX_SECONDS", 300.0)

    def stream() -> Iterator[str]:
        seen_id, reported, started = last_id, set(), time.monotonic()
        since, quiet = utcnow() - STATUS_OVERLAP, started
        yield "retry: 1000\n\n"
        while time.monotonic() - started < limit:
            now = utcnow()
            with session_scope(sessions) as session:
                query = conversation_query(scope, our, remote)
                fresh = list(session.scalars(query.where(Message.id > seen_id).order_by(Message.id)))
                changed = list(session.scalars(
                    query.where(Message.id <= seen_id, Message.updated_at > since).order_by(Message.id)
                ))
                chunks = []
                for message in changed:
                    if (message.id, message.status) not in reported:
                        reported.add((message.id, message.status))
                        chunks.append(f"event: status\ndata: {json.dumps(message_json(message))}\n\n")
                for message in fresh:
                    seen_id = message.id
                    reported.add((message.id, message.status))
                    chunks.append(f"id: {message.id}\nevent: message\ndata: {json.dumps(message_json(message))}\n\n")
            # A writer may commit a change stamped slightly before our last look: look back a little.
            since = now - STATUS_OVERLAP
            if chunks:
                quiet = time.monotonic()
                yield "".join(chunks)
            elif time.monotonic() - quiet > KEEPALIVE_SECONDS:
                quiet = time.monotonic()
                yield ": keepalive\n\n"
            time.sleep(POLL_SECONDS)

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
