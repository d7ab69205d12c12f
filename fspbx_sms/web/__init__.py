"""The Flask application: webhooks, health, the dashboard (one blueprint per area) and the JSON API."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

from fspbx_sms.core.services import Services


def create_app(services: Services) -> Flask:
    """Build the WSGI app around the running service's shared parts."""
    app = Flask(__name__)
    app.extensions["fspbx_sms"] = services
    app.config.update(
        SECRET_KEY=services.session_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=services.settings.base_url.startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=services.settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )

    from fspbx_sms.web import (
        api,
        auth,
        conversations,
        health,
        home,
        logs,
        media,
        settings,
        webhooks,
    )

    csrf = CSRFProtect(app)
    csrf.exempt(webhooks.bp)
    csrf.exempt(api.bp)
    login = LoginManager(app)
    login.login_view = "auth.login"
    login.user_loader(auth.load_user)

    for blueprint in (health.bp, webhooks.bp, auth.bp, home.bp, settings.bp, conversations.bp, logs.bp,
                      media.bp, api.bp):
        app.register_blueprint(blueprint)
    _error_pages(app)
    return app


def _error_pages(app: Flask) -> None:
    """Readable 400/403/404/429 pages for people, JSON for the API."""

    def handler(status: int, title: str):
        def render(error):
            description = getattr(error, "description", title)
            if request.path.startswith("/api/"):
                return jsonify({"error": description}), status
            return render_template("error.html", status=status, title=title, description=description), status

        return render

    app.register_error_handler(CSRFError, handler(400, "The form expired or was not sent by this site"))
    for status, title in ((400, "Bad request"), (403, "Not allowed"), (404, "Not found"),
                          (429, "Too many attempts")):
        app.register_error_handler(status, handler(status, title))


def services_of(app: Flask) -> Services:
    """The service parts the app was built with."""
    return app.extensions["fspbx_sms"]
