"""Role x page/API matrix over the real database: tenants never see each other's data, extension users only
their own extension's, and settings are for admins.

Two domains (a.test, b.test), each with a carrier account, numbers routed to extensions and a conversation per
extension. Every user (superadmin, the two domain admins, three extension users) asks for every tenant-owned
page and API resource; the answer must be 200 exactly when the user's scope covers the owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from fspbx_sms.db import driver_url, make_engine, session_scope, upgrade
from fspbx_sms.models import Message, Origin, Role, User
from tests.conftest import POSTGRES_ADMIN_URL
from tests.dashboard_world import (
    LINES,
    PNG,
    USERS,
    World,
    build_world,
    sees,
)


@pytest.fixture(scope="module")
def module_database_url(tmp_path_factory, postgres_template) -> Iterator[str]:
    """One migrated database shared by this module's read-only tests (SQLite, or PostgreSQL when configured)."""
    if postgres_template is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'fspbx-sms.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    name = f"fspbx_matrix_{uuid.uuid4().hex[:12]}"
    admin = create_engine(driver_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def world(module_database_url, tmp_path_factory) -> Iterator[World]:
    """Both tenants, provisioned once for the module."""
    built = build_world(module_database_url, tmp_path_factory.mktemp("media"))
    yield built
    built.services.engine.dispose()


@pytest.fixture(scope="module")
def clients(world) -> dict[str, FlaskClient]:
    """One logged-in browser session per user."""
    return {username: world.login(username) for username in USERS}


def _extension_resources(world: World) -> list[tuple[str, str, str, str]]:
    """(kind, path, owner domain, owner extension) of everything tied to an extension."""
    resources = []
    for extension, (ours, theirs) in LINES.items():
        domain = extension.split("@")[1]
        message_id, media_id = world.messages[extension], world.media[extension]
        resources += [
            ("page", f"/conversations/{ours}/{theirs}", domain, extension),
            ("page", f"/logs/messages/{message_id}", domain, extension),
            ("page", f"/media/{media_id}", domain, extension),
            ("api", f"/api/v1/messages/{message_id}", domain, extension),
            ("api", f"/api/v1/conversations/{ours}/{theirs}", domain, extension),
        ]
    return resources


PAGE_KINDS = ["conversation", "log detail", "media", "api message", "api conversation"]


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("owner", LINES)
@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_tenant_rows_answer_only_within_scope(world, clients, username, owner, kind):
    """200 when the user's scope covers the owner; 404 (never a hint it exists) otherwise — pages and API."""
    resources = [r for r in _extension_resources(world) if r[3] == owner]
    _, path, domain, extension = resources[PAGE_KINDS.index(kind)]
    if kind.startswith("api"):
        response = world.app.test_client().get(path, headers={"Authorization": f"Bearer {world.tokens[username]}"})
    else:
        response = clients[username].get(path)
    expected = 200 if sees(username, domain, extension) else 404
    assert response.status_code == expected, (path, response.status_code)
    if expected == 200 and kind == "media":
        assert response.data == PNG + owner.encode()


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("domain", ["a.test", "b.test"])
def test_settings_are_for_admins_of_the_domain(world, clients, username, domain):
    """Extension users get 403 on every settings page; admins see only their domain's numbers and carriers."""
    client = clients[username]
    number_id = world.numbers[f"1001@{domain}"]
    carrier_id = world.carriers[domain]
    role = USERS[username][0]
    if role is Role.USER:
        for path in ("/settings/numbers", "/settings/carriers", f"/settings/numbers/{number_id}"):
            response = client.get(path)
            assert response.status_code == 403
            assert "Not allowed" in response.text
        api = world.app.test_client().get(
            "/api/v1/carrier-accounts", headers={"Authorization": f"Bearer {world.tokens[username]}"}
        )
        assert api.status_code == 403
        return
    expected = 200 if sees(username, domain, None) else 404
    assert client.get(f"/settings/numbers/{number_id}").status_code == expected
    assert client.get(f"/settings/carriers/{carrier_id}").status_code == expected
    listing = client.get("/settings/numbers").text
    assert (LINES[f"1001@{domain}"][0] in listing) == (expected == 200)
    carriers = client.get("/settings/carriers").text
    assert (f"telnyx-{domain}" in carriers) == (expected == 200)


@pytest.mark.parametrize("username", USERS)
def test_lists_show_exactly_the_users_conversations_and_messages(world, clients, username):
    """Conversation list, log table, CSV and API lists contain the scope's rows and no other tenant's."""
    client = clients[username]
    bearer = {"Authorization": f"Bearer {world.tokens[username]}"}
    api = world.app.test_client()
    conversations = client.get("/conversations/").text
    log_page = client.get("/logs/messages").text
    csv = client.get("/logs/messages.csv").text
    api_numbers = {n["number"] for n in api.get("/api/v1/numbers", headers=bearer).json}
    api_conversations = {c["remote"] for c in api.get("/api/v1/conversations", headers=bearer).json}
    api_messages = {m["id"] for m in api.get("/api/v1/messages", headers=bearer).json}
    for extension, (ours, theirs) in LINES.items():
        visible = sees(username, extension.split("@")[1], extension)
        assert (theirs in conversations) == visible
        assert (f"reply from {extension}" in log_page) == visible
        assert (f"reply from {extension}" in csv) == visible
        assert (ours in api_numbers) == visible
        assert (theirs in api_conversations) == visible
        assert (world.messages[extension] in api_messages) == visible


@pytest.mark.parametrize("path", ["/", "/conversations/", "/logs/messages", "/settings/numbers", "/account"])
def test_pages_need_a_login(world, path):
    """Anonymous visitors are sent to the login page."""
    response = world.app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_api_refuses_missing_and_wrong_tokens_and_session_cookies(world, clients):
    """The API takes only a valid Bearer token; a logged-in session cookie is not enough."""
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic cm9vdDp4"}):
        response = world.app.test_client().get("/api/v1/numbers", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert clients["root"].get("/api/v1/numbers").status_code == 401


def test_media_links_need_a_valid_unexpired_signature_or_a_same_tenant_login(world):
    """Carriers fetch pictures with a signed link; without it, or with a forged or expired one, it is 403."""
    media_id = world.media["1001@a.test"]
    library = world.services.media
    anonymous = world.app.test_client()
    assert anonymous.get(library.signed_path(media_id)).data == PNG + b"1001@a.test"
    assert anonymous.get(f"/media/{media_id}").status_code == 403
    expired = library.signed_path(media_id, now=0)
    assert anonymous.get(expired).status_code == 403
    other = library.signed_path(world.media["1001@b.test"])
    forged = f"/media/{media_id}?" + other.split("?", 1)[1]
    assert anonymous.get(forged).status_code == 403


def test_raw_payloads_are_shown_with_secrets_redacted(world, clients):
    """The detail page of the inbound text shows its stored raw payload, secrets hidden."""
    with session_scope(world.services.sessions) as session:
        inbound = session.scalars(
            select(Message).where(Message.our_number == "+15550001001", Message.origin == Origin.CARRIER)
        ).one()
        message_id = inbound.id
    page = clients["admin-a"].get(f"/logs/messages/{message_id}").text
    assert "[redacted]" in page
    assert "leak?" not in page


def test_disabled_user_loses_access_at_once(world):
    """A user disabled after logging in is logged out on the next request, and their token stops working."""
    client = world.login("amos")
    assert client.get("/conversations/").status_code == 200
    with session_scope(world.services.sessions) as session:
        session.scalars(select(User).where(User.username == "amos")).one().enabled = False
    try:
        assert client.get("/conversations/").status_code == 302
        bearer = {"Authorization": f"Bearer {world.tokens['amos']}"}
        assert world.app.test_client().get("/api/v1/numbers", headers=bearer).status_code == 401
    finally:
        with session_scope(world.services.sessions) as session:
            session.scalars(select(User).where(User.username == "amos")).one().enabled = True
