"""JSON API ``/api/v1/``: per-user Bearer tokens, the same scope rules as the dashboard.

Only token authentication is accepted here (never the session cookie), which is why the API needs no CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request
from sqlalchemy import select

from fspbx_sms.core.compose import ComposeError, compose
from fspbx_sms.core.numbers import InvalidNumber
from fspbx_sms.db import session_scope
from fspbx_sms.models import CarrierAccount, Domain, Message, MessagingNumber, NumberPurpose, Origin, User
from fspbx_sms.web import services_of
from fspbx_sms.web.access import admin_required, current_scope
from fspbx_sms.web.auth import token_hash
from fspbx_sms.web.conversations import conversation_query, summaries
from fspbx_sms.web.logs import PAGE_SIZE, filtered, row_of
from fspbx_sms.web.scope import Scope

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def authenticate() -> None:
    """Find the user of the ``Authorization: Bearer`` token, or answer 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, "send Authorization: Bearer <token>")
    with session_scope(services_of(current_app).sessions) as session:
        user = session.scalars(select(User).where(User.api_token_hash == token_hash(token.strip()))).one_or_none()
        if user is None or not user.enabled:
            abort(401, "unknown or revoked token")
        g.api_scope = Scope.of(user)


@bp.errorhandler(401)
def unauthorized(error):
    """401 as JSON with the Bearer challenge."""
    return jsonify({"error": error.description}), 401, {"WWW-Authenticate": "Bearer"}


def _number_json(row: MessagingNumber) -> dict:
    return {
        "id": row.id,
        "number": row.e164,
        "domain": row.domain.name,
        "carrier_account": row.carrier_account.name,
        "extension": row.extension.number if row.extension else None,
        "email": row.email,
        "purpose": row.purpose.value,
        "enabled": row.enabled,
    }


@bp.get("/numbers")
def numbers():
    """The messaging numbers in scope."""
    with session_scope(services_of(current_app).sessions) as session:
        rows = session.scalars(current_scope().select(MessagingNumber).order_by(MessagingNumber.e164))
        return jsonify([_number_json(row) for row in rows])


@bp.get("/carrier-accounts")
@admin_required
def carrier_accounts():
    """The carrier accounts in scope (never their credentials)."""
    with session_scope(services_of(current_app).sessions) as session:
        rows = session.scalars(current_scope().select(CarrierAccount).order_by(CarrierAccount.name))
        return jsonify([
            {"id": r.id, "name": r.name, "provider": r.provider, "domain": r.domain.name if r.domain else None,
             "enabled": r.enabled}
            for r in rows
        ])


@bp.get("/conversations")
def conversations():
    """Conversations in scope: our number, the other party, last message, unread count."""
    with session_scope(services_of(current_app).sessions) as session:
        rows = summaries(session, current_scope(), search=request.args.get("q", "").strip())
        return jsonify([
            {"our_number": r["our"], "remote": r["remote"], "unread": r["unread"], "last": row_of(r["last"])}
            for r in rows
        ])


@bp.get("/conversations/<our>/<path:remote>")
def conversation(our: str, remote: str):
    """The messages of one conversation, oldest first."""
    with session_scope(services_of(current_app).sessions) as session:
        rows = list(session.scalars(conversation_query(current_scope(), our, remote).order_by(Message.id)))
        if not rows:
            abort(404)
        return jsonify([row_of(m) for m in rows])


@bp.get("/messages")
def messages():
    """Messages in scope, newest first, with the log page's filters and ``page``."""
    page = max(request.args.get("page", 1, type=int), 1)
    with session_scope(services_of(current_app).sessions) as session:
        query = filtered(current_scope(), request.args).order_by(Message.id.desc())
        rows = session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))
        return jsonify([row_of(m) for m in rows])


@bp.get("/messages/<int:message_id>")
def message(message_id: int):
    """One message in scope."""
    with session_scope(services_of(current_app).sessions) as session:
        return jsonify(row_of(current_scope().get(session, Message, message_id)))


@bp.post("/messages")
def send():
    """Send a text: ``{"from": our number, "to": their number, "text": "..."}`` → 201 with the message."""
    scope = current_scope()
    services = services_of(current_app)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, 'send a JSON object: {"from": ..., "to": ..., "text": ...}')
    with session_scope(services.sessions) as session:
        number = session.scalars(
            scope.select(MessagingNumber).where(
                MessagingNumber.e164 == str(body.get("from", "")), MessagingNumber.purpose == NumberPurpose.USER
            )
        ).one_or_none()
        if number is None:
            abort(404, "'from' is not one of your numbers")
        result = _queue_text(session, number, body, scope)
    services_of(current_app).notify_workers()
    return jsonify(result), 201


def _queue_text(session, number: MessagingNumber, body: dict, scope: Scope) -> dict:
    """Queue ``body``'s text from ``number`` (400 with the reason when it cannot go); the message as JSON."""
    try:
        with session.begin_nested():
            sent = compose(
                session, number=number, to=str(body.get("to", "")), body=str(body.get("text", "")), media=[],
                origin=Origin.API, policy=services_of(current_app).policy, author=scope.username,
            )
    except (ComposeError, InvalidNumber) as err:
        abort(400, str(err))
    session.flush()
    return row_of(sent)


@bp.post("/notifications")
@admin_required
def notify():
    """A system SMS (missed-call alert, …) from the domain's system notification number:
    ``{"to": "+1…", "text": "…", "domain": "pbx.example.com"}`` (``domain`` only needed by a superadmin)."""
    scope = current_scope()
    services = services_of(current_app)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, 'send a JSON object: {"to": ..., "text": ...}')
    with session_scope(services.sessions) as session:
        query = scope.select(MessagingNumber).where(
            MessagingNumber.purpose == NumberPurpose.SYSTEM_NOTIFICATION, MessagingNumber.enabled
        )
        if body.get("domain"):
            query = query.join(Domain, Domain.id == MessagingNumber.domain_id).where(
                Domain.name == str(body["domain"]).lower()
            )
        elif scope.domain_id is None:
            abort(400, "say which domain the notice is for: \"domain\"")
        number = session.scalars(query.order_by(MessagingNumber.id)).first()
        if number is None:
            abort(404, "no system notification number in that domain")
        result = _queue_text(session, number, body, scope)
    services_of(current_app).notify_workers()
    return jsonify(result), 201
