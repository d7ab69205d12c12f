"""The Flask application: webhooks, health, and (later) the dashboard and JSON API."""

from __future__ import annotations

from flask import Flask

from fspbx_sms.core.services import Services


def create_app(services: Services) -> Flask:
    """Build the WSGI app around the running service's shared parts."""
    app = Flask(__name__)
    app.extensions["fspbx_sms"] = services

    from fspbx_sms.web import health, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    return app


def services_of(app: Flask) -> Services:
    """The service parts the app was built with."""
    return app.extensions["fspbx_sms"]
