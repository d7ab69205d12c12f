"""JSON API ``/api/v1/`` over the real database: tokens made in the dashboard, sending, the same scope rules."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from fspbx_sms.core.provisioning import add_number
from fspbx_sms.db import session_scope
from fspbx_sms.models import Job, JobKind, Message, MessageStatus, Origin, User
from fspbx_sms.web.auth import token_hash
from tests.dashboard_world import World, build_world, csrf_token


@pytest.fixture
def world(database_url, tmp_path) -> World:
    """Both tenants on a fresh database for one test."""
    built = build_world(database_url, tmp_path / "media")
    yield built
    built.services.engine.dispose()


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def test_a_token_made_in_the_dashboard_is_shown_once_stored_hashed_and_replaces_the_old_one(world):
    """POST /account shows a new token once; only its SHA-256 is stored; the previous token stops working."""
    client = world.login("alice")
    page = client.post("/account", data={"csrf_token": csrf_token(client.get("/account").text)}).text
    token = re.search(r'id="api-token" readonly value="([^"]+)"', page).group(1)
    assert token not in client.get("/account").text
    with session_scope(world.services.sessions) as session:
        stored = session.scalars(select(User).where(User.username == "alice")).one().api_token_hash
    assert stored == token_hash(token) and token not in stored
    api = world.app.test_client()
    numbers = api.get("/api/v1/numbers", headers=bearer(token))
    assert numbers.status_code == 200
    assert [n["number"] for n in numbers.json] == ["+15550001001"]
    assert api.get("/api/v1/numbers", headers=bearer(world.tokens["alice"])).status_code == 401


def test_send_queues_a_carrier_job_from_an_own_number(world):
    """POST /api/v1/messages → 201 with the queued message; it goes out through the number's carrier."""
    api = world.app.test_client()
    response = api.post("/api/v1/messages", headers=bearer(world.tokens["alice"]),
                        json={"from": "+15550001001", "to": "(555) 765-4444", "text": "from the API"})
    assert response.status_code == 201, response.json
    assert (response.json["to"], response.json["status"]) == ("+15557654444", "queued")
    with session_scope(world.services.sessions) as session:
        message = session.get(Message, response.json["id"])
        assert (message.origin, message.status, message.carrier_account_id) == (
            Origin.API, MessageStatus.QUEUED, world.carriers["a.test"]
        )
        (job,) = session.scalars(select(Job).where(Job.message_id == message.id))
        assert (job.kind, job.target) == (JobKind.CARRIER, "+15557654444")
    conversation = api.get("/api/v1/conversations/+15550001001/+15557654444", headers=bearer(world.tokens["alice"]))
    assert [m["text"] for m in conversation.json] == ["from the API"]


@pytest.mark.parametrize(
    ("username", "sender", "status"),
    [
        ("alice", "+15550001002", 404),  # a colleague's number in the same domain
        ("alice", "+15550002001", 404),  # another tenant's number
        ("admin-b", "+15550001001", 404),  # another domain's admin
        ("admin-a", "+15550001002", 201),  # the domain admin may send from any number of the domain
        ("root", "+15550002001", 201),
    ],
)
def test_send_only_from_numbers_in_scope(world, username, sender, status):
    """Sending from a number outside the caller's scope is refused as if it did not exist."""
    response = world.app.test_client().post(
        "/api/v1/messages", headers=bearer(world.tokens[username]),
        json={"from": sender, "to": "+15557654444", "text": "scoped"},
    )
    assert response.status_code == status, response.json
    with session_scope(world.services.sessions) as session:
        stored = session.scalars(select(Message).where(Message.body == "scoped")).all()
    assert len(stored) == (1 if status == 201 else 0)


def test_send_refuses_bad_requests_with_reasons(world):
    """A bad number or an empty text is 400 with the reason, as JSON."""
    api = world.app.test_client()
    headers = bearer(world.tokens["alice"])
    bad_number = api.post("/api/v1/messages", headers=headers, json={"from": "+15550001001", "to": "12", "text": "x"})
    assert bad_number.status_code == 400 and "phone number" in bad_number.json["error"]
    empty = api.post("/api/v1/messages", headers=headers, json={"from": "+15550001001", "to": "+15557654444"})
    assert empty.status_code == 400 and "write a text" in empty.json["error"]
    not_json = api.post("/api/v1/messages", headers=headers, data="nope")
    assert not_json.status_code == 400 and "JSON object" in not_json.json["error"]


def test_carrier_accounts_never_include_credentials(world):
    """Admins list their carrier accounts; credentials and webhook secrets are not in the answer."""
    response = world.app.test_client().get("/api/v1/carrier-accounts", headers=bearer(world.tokens["admin-a"]))
    assert [a["name"] for a in response.json] == ["telnyx-a.test"]
    assert "KEY-super-secret" not in response.text
    assert set(response.json[0]) == {"id", "name", "provider", "domain", "enabled"}


def test_message_filters_and_pages(world):
    """GET /api/v1/messages takes the log filters."""
    api = world.app.test_client()
    headers = bearer(world.tokens["root"])
    outbound = api.get("/api/v1/messages?direction=outbound", headers=headers).json
    assert {m["direction"] for m in outbound} == {"outbound"} and len(outbound) == 3
    found = api.get("/api/v1/messages?text=reply from 1002", headers=headers).json
    assert [m["text"] for m in found] == ["reply from 1002@a.test"]
    assert api.get("/api/v1/messages?page=2", headers=headers).json == []


def test_notifications_go_out_from_the_domains_system_number_for_admins_only(world):
    """POST /api/v1/notifications: admins of the domain (and superadmins naming it) send a system SMS."""
    with session_scope(world.services.sessions) as session:
        add_number(session, number="+15550009001", carrier="telnyx-a.test", system=True, domain="a.test")
    api = world.app.test_client()
    notice = {"to": "+15557654444", "text": "Missed call from +15551230000"}
    assert api.post("/api/v1/notifications", headers=bearer(world.tokens["alice"]), json=notice).status_code == 403
    assert api.post("/api/v1/notifications", headers=bearer(world.tokens["admin-b"]), json=notice).status_code == 404
    assert api.post("/api/v1/notifications", headers=bearer(world.tokens["root"]), json=notice).status_code == 400
    sent = api.post("/api/v1/notifications", headers=bearer(world.tokens["admin-a"]), json=notice)
    assert sent.status_code == 201, sent.json
    assert (sent.json["from"], sent.json["to"]) == ("+15550009001", "+15557654444")
    root = bearer(world.tokens["root"])
    by_root = api.post("/api/v1/notifications", headers=root, json={**notice, "domain": "a.test"})
    assert by_root.status_code == 201
    with session_scope(world.services.sessions) as session:
        jobs = session.scalars(select(Job).where(Job.kind == JobKind.CARRIER, Job.target == "+15557654444")).all()
    assert len(jobs) == 2
