"""Login, logout, and the user's own account page (API token)."""

from __future__ import annotations

import hashlib
import logging
import secrets

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from fspbx_sms.db import session_scope
from fspbx_sms.models import User
from fspbx_sms.web import services_of
from fspbx_sms.web.access import LoginThrottle, LoginUser, current_scope
from fspbx_sms.web.scope import Scope

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

#: A hash to check passwords of unknown users against, so a missing user takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


def load_user(user_id: str) -> LoginUser | None:
    """Flask-Login's loader: the enabled user with this id, read fresh on every request."""
    with session_scope(services_of(current_app).sessions) as session:
        user = session.get(User, int(user_id)) if user_id.isdigit() else None
        if user is None or not user.enabled:
            return None
        return LoginUser(Scope.of(user))


def token_hash(token: str) -> str:
    """How an API token is stored: its SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle() -> LoginThrottle:
    throttle = current_app.extensions.get("login_throttle")
    if throttle is None:
        settings = services_of(current_app).settings
        throttle = LoginThrottle(settings.login_max_failures, settings.login_lockout_seconds)
        current_app.extensions["login_throttle"] = throttle
    return throttle


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple:
    """The login form; 5 failures per address and username lock it for a while (429)."""
    if request.method == "GET":
        return render_template("auth/login.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    key = (request.remote_addr or "", username.lower())
    wait = _throttle().retry_after(key)
    if wait:
        seconds = int(wait) + 1
        page = render_template(
            "error.html", status=429, title="Too many attempts",
            description=f"Too many failed logins. Try again in {seconds} seconds.",
        )
        return page, 429, {"Retry-After": str(seconds)}
    with session_scope(services_of(current_app).sessions) as session:
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
        good = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not good or not user.enabled:
            _throttle().failed(key)
            log.warning("failed dashboard login for %r from %s", username, request.remote_addr)
            flash("Wrong username or password.", "error")
            return render_template("auth/login.html", username=username), 401
        _throttle().succeeded(key)
        login_user(LoginUser(Scope.of(user)))
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    """End the session."""
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> str:
    """The user's account: create (or replace) the API token, shown once."""
    token = None
    if request.method == "POST":
        token = secrets.token_urlsafe(32)
        with session_scope(services_of(current_app).sessions) as session:
            session.get(User, current_scope().user_id).api_token_hash = token_hash(token)
    return render_template("auth/account.html", token=token)
