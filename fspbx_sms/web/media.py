"""``GET /media/<id>``: stored pictures, for carriers (signed, expiring link) and same-tenant users."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user

from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.db import session_scope
from fspbx_sms.models import Media
from fspbx_sms.web import services_of
from fspbx_sms.web.access import current_scope

log = logging.getLogger(__name__)

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/<int:media_id>")
def show(media_id: int):
    """Serve a picture to a valid signed link, else only to a logged-in user who may see its message."""
    services = services_of(current_app)
    signed = services.media.verify(
        media_id, request.args.get("expires", ""), request.args.get("signature", "")
    )
    if not signed and not current_user.is_authenticated:
        abort(403, "This media link is invalid or has expired.")
    with session_scope(services.sessions) as session:
        row = session.get(Media, media_id) if signed else current_scope().media(session, media_id)
        if row is None or not row.storage_key:
            abort(404)
        storage_key, content_type = row.storage_key, row.content_type
    try:
        data = services.media.read(storage_key)
    except MediaStoreError:
        log.exception("media %s could not be read", media_id)
        abort(503, "Media storage is unavailable; try again shortly.")
    if data is None:
        abort(404)
    # Media are small (inbound capped by media_max_bytes, uploads at 10 MB): served whole.
    return Response(
        data,
        mimetype=content_type or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
