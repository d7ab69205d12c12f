"""``POST /webhooks/<provider>/<account id>``: carrier webhooks for inbound texts and delivery receipts.

The answer is 200 only after the message and its jobs are committed, so the carrier never needs to resend
and a crash after commit loses nothing. Failed authentication is 401/403 and stores nothing; a body we
cannot parse is 400; our own failure is 500, so the carrier retries.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from fspbx_sms.carriers import CarrierConfigError, WebhookAuthError, WebhookParseError, WebhookRequest
from fspbx_sms.core.routing import store_carrier_events
from fspbx_sms.db import session_scope
from fspbx_sms.models import CarrierAccount
from fspbx_sms.web import services_of

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _error(status: int, message: str):
    return jsonify({"error": message}), status


@bp.post("/<provider>/<int:account_id>")
def receive(provider: str, account_id: int):
    """Verify, parse and store one webhook of carrier account ``account_id``."""
    services = services_of(current_app)
    with session_scope(services.sessions) as session:
        account = session.get(CarrierAccount, account_id)
        if account is None or account.provider != provider or not account.enabled:
            return _error(404, "no such carrier account")
        try:
            adapter = services.adapters.get(account)
        except CarrierConfigError as err:
            log.error("webhook for carrier account %s refused: %s", account.name, err)
            return _error(503, "carrier account is misconfigured")
        query = request.query_string.decode("latin-1")
        incoming = WebhookRequest(
            method=request.method,
            url=f"{services.settings.base_url}{request.path}" + (f"?{query}" if query else ""),
            headers=request.headers,
            query=request.args.to_dict(),
            body=request.get_data(cache=False),
        )
        try:
            events = adapter.handle_webhook(incoming)
        except WebhookAuthError as err:
            log.warning("webhook for carrier account %s failed authentication: %s", account.name, err)
            return _error(err.status_code, "authentication failed")
        except WebhookParseError as err:
            log.warning("webhook for carrier account %s not understood: %s", account.name, err)
            return _error(400, f"bad webhook: {err}")
        queued = store_carrier_events(session, account, events, services.policy)
    if queued:
        services.notify_workers(queued)
    content_type, body = adapter.webhook_ack
    return Response(body, status=200, content_type=content_type)
