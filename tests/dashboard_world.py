"""The dashboard tests' world: two domains, their admins, extension users and texts, on a real database."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from nacl.signing import SigningKey

from fspbx_sms.carriers import InboundMessage
from fspbx_sms.config import load_settings
from fspbx_sms.core.compose import compose
from fspbx_sms.core.provisioning import add_carrier_account, add_number, add_user
from fspbx_sms.core.routing import store_carrier_events
from fspbx_sms.db import session_scope
from fspbx_sms.models import CarrierAccount, MessagingNumber, Origin, Role
from fspbx_sms.service import build_services
from fspbx_sms.web import create_app
from fspbx_sms.web.auth import token_hash

PASSWORD = "correct horse battery"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnop"
#: A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

#: user → (role, domain, extension)
USERS = {
    "root": (Role.SUPERADMIN, None, None),
    "admin-a": (Role.ADMIN, "a.test", None),
    "admin-b": (Role.ADMIN, "b.test", None),
    "alice": (Role.USER, None, "1001@a.test"),
    "amos": (Role.USER, None, "1002@a.test"),
    "bea": (Role.USER, None, "1001@b.test"),
}
#: extension → (our number, the texter)
LINES = {
    "1001@a.test": ("+15550001001", "+15557650001"),
    "1002@a.test": ("+15550001002", "+15557650002"),
    "1001@b.test": ("+15550002001", "+15557650003"),
}


def sees(user: str, domain: str, extension: str | None) -> bool:
    """Whether ``user`` may see a row of ``domain`` (owned by ``extension``, if any)."""
    role, user_domain, user_extension = USERS[user]
    if role is Role.SUPERADMIN:
        return True
    if role is Role.ADMIN:
        return user_domain == domain
    return extension is not None and user_extension == extension


@dataclass
class World:
    """The app and the ids of what was provisioned."""

    app: Flask
    services: object
    messages: dict[str, int]
    media: dict[str, int]
    numbers: dict[str, int]
    carriers: dict[str, int]
    tokens: dict[str, str]

    def login(self, username: str) -> FlaskClient:
        """A test client logged in as ``username`` (the login form, CSRF token included)."""
        client = self.app.test_client()
        page = client.get("/login")
        response = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_token(page.text)}
        )
        assert response.status_code == 302, response.text
        return client


def csrf_token(html: str) -> str:
    """The CSRF token a rendered page carries."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def make_app(database_url: str, media_dir: Path, **overrides) -> tuple[Flask, object]:
    """The real Flask app over ``database_url`` (what ``fspbx-sms run`` serves), without ESL or workers."""
    settings = load_settings(
        environ={}, database_url=database_url, secret_key=SECRET_KEY, media_dir=str(media_dir),
        public_url="http://sms.example.test", **overrides,
    )
    services = build_services(settings)
    app = create_app(services)
    app.config["SSE_MAX_SECONDS"] = 1.5
    return app, services


def telnyx_credentials() -> dict[str, str]:
    """Well-formed Telnyx credentials (a fresh Ed25519 public key)."""
    public = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    return {"api_key": "KEY-super-secret", "public_key": public, "base_url": "http://127.0.0.1:9"}


def build_world(database_url: str, media_dir: Path) -> World:
    """Provision both tenants through the same functions the CLI and the forms use; store one inbound text per
    extension the way a carrier webhook does, and one outbound picture reply."""
    app, services = make_app(database_url, media_dir)
    messages, media, numbers, carriers, tokens = {}, {}, {}, {}, {}
    with session_scope(services.sessions) as session:
        for domain in ("a.test", "b.test"):
            account = add_carrier_account(
                session, services.box, provider="telnyx", name=f"telnyx-{domain}", credentials=telnyx_credentials(),
                domain=domain,
            )
            carriers[domain] = account.id
        for extension, (ours, _) in LINES.items():
            domain = extension.split("@")[1]
            numbers[extension] = add_number(session, number=ours, carrier=f"telnyx-{domain}", extension=extension).id
        for username, (role, domain, extension) in USERS.items():
            user = add_user(session, username=username, password=PASSWORD, role=role, domain=domain,
                            extension=extension)
            tokens[username] = f"token-{username}-{uuid.uuid4().hex}"
            user.api_token_hash = token_hash(tokens[username])
    for extension, (ours, theirs) in LINES.items():
        with session_scope(services.sessions) as session:
            account = session.get(CarrierAccount, carriers[extension.split("@")[1]])
            event = InboundMessage(
                carrier_message_id=str(uuid.uuid4()), from_number=theirs, to_numbers=(ours,),
                text=f"hello {extension}", media=(), received_at=None, raw={"api_key": "leak?"},
            )
            store_carrier_events(session, account, [event], services.policy)
        with session_scope(services.sessions) as session:
            number = session.get(MessagingNumber, numbers[extension])
            picture = services.media.store(PNG + extension.encode(), "image/png")
            reply = compose(session, number=number, to=theirs, body=f"reply from {extension}", media=[picture],
                            origin=Origin.DASHBOARD, policy=services.policy, author="test")
            session.flush()
            messages[extension] = reply.id
            media[extension] = reply.media[0].id
    return World(app, services, messages, media, numbers, carriers, tokens)
