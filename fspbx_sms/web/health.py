"""``GET /healthz``: is the database answering, can media be stored, what state is each FreeSWITCH connection in."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.web import services_of

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 with details when the database answers (``degraded`` when media cannot be stored), 503 when not."""
    services = services_of(current_app)
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as err:
        database = f"error: {type(err).__name__}"
    try:
        services.media.check()
        media = "ok"
    except MediaStoreError as err:
        media = f"error: {err}"
    esl = [client.status() for client in services.esl_clients]
    body = {
        # Texts flow without the media store (pictures wait and retry): degraded, not down.
        "status": "error" if database != "ok" else "ok" if media == "ok" else "degraded",
        "database": database,
        "media": media,
        "esl": esl,
        "esl_connected": any(node["state"] == "connected" for node in esl),
    }
    return jsonify(body), 200 if database == "ok" else 503
