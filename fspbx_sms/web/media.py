"""``GET /media/<id>``: stored pictures, for carriers (signed, expiring link) and same-tenant users."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user

from fspbx_sms.db import session_scope
from fspbx_sms.models import Media
from fspbx_sms.web import services_of
from fspbx_sms.web.access import current_scope

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
        path, content_type = services.media.path(row.storage_key), row.content_type
    if not path.is_file():
        abort(404)
    # Pictures are small (uploads are capped at 10 MB): read whole, so no file handle outlives the request.
    return Response(
        path.read_bytes(),
        mimetype=content_type or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
