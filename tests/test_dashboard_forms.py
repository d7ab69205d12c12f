"""The dashboard's forms and flows over the real database with Flask's test client: CSRF, login rate limit,
Message Settings, replies with pictures going out through a loopback carrier, live updates, logs and retry."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import select
from werkzeug import Request, Response

from fspbx_sms.carriers import InboundMessage, WebhookRequest
from fspbx_sms.core.delivery import CarrierSend
from fspbx_sms.core.outbox import Backoff
from fspbx_sms.core.routing import store_carrier_events
from fspbx_sms.core.workers import WorkerPool
from fspbx_sms.db import session_scope
from fspbx_sms.models import (
    CarrierAccount,
    Direction,
    Job,
    JobKind,
    JobState,
    Message,
    MessageStatus,
    MessagingNumber,
    SipRegistration,
)
from fspbx_sms.web.access import LoginThrottle
from tests.dashboard_world import PASSWORD, PNG, World, build_world, csrf_token
from tests.telnyx_account import fixture


def telnyx_accepts(request: Request) -> Response:
    """Telnyx's answer to a send: a new message id each time."""
    body = {"data": {"id": str(uuid.uuid4()), "to": [{"status": "queued"}]}}
    return Response(json.dumps(body), status=200, content_type="application/json")


@pytest.fixture
def world(database_url, tmp_path) -> World:
    """Both tenants on a fresh database for one test."""
    built = build_world(database_url, tmp_path / "media")
    yield built
    built.services.engine.dispose()


def post_form(client, page_path: str, data: dict, action: str | None = None, **kwargs):
    """Open ``page_path``, then submit its form with its CSRF token (to ``action`` if given)."""
    token = csrf_token(client.get(page_path).text)
    return client.post(action or page_path, data={**data, "csrf_token": token}, **kwargs)


def run_carrier_jobs(world: World, httpserver) -> None:
    """Run every due carrier job once through the real handler, against the loopback carrier."""
    with session_scope(world.services.sessions) as session:
        for account in session.scalars(select(CarrierAccount)):
            credentials = world.services.box.open(account.credentials_encrypted)
            credentials["base_url"] = httpserver.url_for("").rstrip("/")
            account.credentials_encrypted = world.services.box.seal(credentials)
    send = CarrierSend(world.services.sessions, world.services.adapters, world.services.media, "")
    pool = WorkerPool(world.services.sessions, {JobKind.CARRIER: send}, size=1, lease_seconds=30,
                      backoff=Backoff(0.1, 0.1), poll_interval=0.1)
    while pool.run_once("test-worker"):
        pass


def test_forms_without_a_csrf_token_are_refused_and_change_nothing(world):
    """Login, settings and reply forms posted without the token → 400 and nothing stored."""
    client = world.login("admin-a")
    before = client.get("/settings/numbers").text
    refused = client.post("/settings/numbers/new", data={"number": "+15550001077", "carrier_account_id": "1"})
    assert refused.status_code == 400
    assert "The form expired or was not sent by this site" in refused.text
    assert client.get("/settings/numbers").text == before
    assert client.post("/logout").status_code == 400
    assert world.app.test_client().post("/login", data={"username": "root", "password": PASSWORD}).status_code == 400
    reply = client.post("/conversations/+15550001001/+15557650001/reply", data={"body": "no token"})
    assert reply.status_code == 400
    with session_scope(world.services.sessions) as session:
        assert session.scalars(select(Message).where(Message.body == "no token")).first() is None


def test_five_failed_logins_lock_out_that_user_from_that_address(world):
    """After 5 wrong passwords even the right one gets 429; another user is not affected."""
    client = world.app.test_client()
    for _ in range(5):
        assert post_form(client, "/login", {"username": "alice", "password": "wrong password"}).status_code == 401
    locked = post_form(client, "/login", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert 290 <= int(locked.headers["Retry-After"]) <= 301
    assert "Too many failed logins" in locked.text
    assert post_form(client, "/login", {"username": "amos", "password": PASSWORD}).status_code == 302


def test_login_throttle_locks_after_max_failures_and_then_starts_over():
    """Failures within the window lock the key from the last one; afterwards the count starts from zero."""
    now = [1000.0]
    throttle = LoginThrottle(max_failures=2, lockout_seconds=60, clock=lambda: now[0])
    key = ("127.0.0.1", "alice")
    throttle.failed(key)
    assert throttle.retry_after(key) == 0
    now[0] += 10
    throttle.failed(key)
    assert throttle.retry_after(key) == 60
    assert throttle.retry_after(("127.0.0.1", "amos")) == 0
    now[0] += 61
    assert throttle.retry_after(key) == 0
    throttle.failed(key)
    assert throttle.retry_after(key) == 0
    now[0] += 61
    throttle.failed(key)
    assert throttle.retry_after(key) == 0


def test_admin_adds_a_carrier_account_whose_secret_is_never_shown_again(world, httpserver):
    """Add a Telnyx account: stored encrypted, the webhook URL shown, the secret kept when left blank on edit."""
    client = world.login("admin-a")
    form = {"provider": "telnyx", "name": "telnyx-extra", "cred_api_key": "KEY-very-secret-value",
            "cred_public_key": "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyYWE=", "domain_id": "999"}
    saved = post_form(client, "/settings/carriers/new?provider=telnyx", form, action="/settings/carriers/new")
    assert saved.status_code == 302, saved.text
    with session_scope(world.services.sessions) as session:
        account = session.scalars(select(CarrierAccount).where(CarrierAccount.name == "telnyx-extra")).one()
        assert account.domain.name == "a.test"
        assert "KEY-very-secret-value" not in account.credentials_encrypted
        account_id, secret = account.id, account.webhook_secret
    listing = client.get("/settings/carriers").text
    assert f"http://sms.example.test/webhooks/telnyx/{account_id}" in listing
    edit_page = client.get(f"/settings/carriers/{account_id}").text
    assert "KEY-very-secret-value" not in edit_page
    assert "Ed25519" in edit_page
    edited = post_form(client, f"/settings/carriers/{account_id}",
                       {"name": "telnyx-renamed", "cred_api_key": "", "enabled": "on",
                        "cred_public_key": form["cred_public_key"]})
    assert edited.status_code == 302
    with session_scope(world.services.sessions) as session:
        account = session.get(CarrierAccount, account_id)
        assert account.name == "telnyx-renamed"
        assert world.services.box.open(account.credentials_encrypted)["api_key"] == "KEY-very-secret-value"
        assert account.webhook_secret == secret
    with session_scope(world.services.sessions) as session:  # point the account at a loopback Telnyx
        account = session.get(CarrierAccount, account_id)
        credentials = world.services.box.open(account.credentials_encrypted)
        credentials["base_url"] = httpserver.url_for("").rstrip("/")
        account.credentials_encrypted = world.services.box.seal(credentials)
    httpserver.expect_oneshot_request("/v2/balance", method="GET",
                                      headers={"Authorization": "Bearer KEY-very-secret-value"}).respond_with_json({})
    tested = post_form(client, "/settings/carriers", {}, action=f"/settings/carriers/{account_id}/test")
    assert "the carrier accepted these credentials" in client.get(tested.headers["Location"]).text
    httpserver.expect_oneshot_request("/v2/balance", method="GET").respond_with_data("{}", status=401)
    tested = post_form(client, "/settings/carriers", {}, action=f"/settings/carriers/{account_id}/test")
    assert "refused these credentials" in client.get(tested.headers["Location"]).text


def test_admin_adds_edits_searches_and_deletes_a_number(world):
    """A number typed loosely is stored as E.164; other domains' accounts and bad numbers are refused."""
    client = world.login("admin-a")
    account_a, account_b = world.carriers["a.test"], world.carriers["b.test"]
    bad = post_form(client, "/settings/numbers/new",
                    {"number": "12", "carrier_account_id": str(account_a), "purpose": "user"})
    assert bad.status_code == 400
    assert "not a possible phone number" in bad.text or "not a phone number" in bad.text
    foreign = post_form(client, "/settings/numbers/new",
                        {"number": "(555) 000-1009", "carrier_account_id": str(account_b), "purpose": "user"})
    assert foreign.status_code == 400
    added = post_form(client, "/settings/numbers/new",
                      {"number": "(555) 000-1009", "carrier_account_id": str(account_a), "extension": "1009",
                       "email": "desk@a.test", "purpose": "user"})
    assert added.status_code == 302, added.text
    with session_scope(world.services.sessions) as session:
        number = session.scalars(select(MessagingNumber).where(MessagingNumber.e164 == "+15550001009")).one()
        assert (number.domain.name, number.extension.address, number.email) == ("a.test", "1009@a.test", "desk@a.test")
        number_id = number.id
    assert "+15550001009" in client.get("/settings/numbers?q=1009").text
    assert "+15550001001" not in client.get("/settings/numbers?q=1009").text
    disabled = post_form(client, f"/settings/numbers/{number_id}",
                         {"number": "+15550001009", "carrier_account_id": str(account_a), "purpose": "user"})
    assert disabled.status_code == 302
    with session_scope(world.services.sessions) as session:
        assert session.get(MessagingNumber, number_id).enabled is False
    deleted = post_form(client, "/settings/numbers", {}, action=f"/settings/numbers/{number_id}/delete")
    assert deleted.status_code == 302
    with session_scope(world.services.sessions) as session:
        assert session.get(MessagingNumber, number_id) is None


def test_reply_with_a_picture_reaches_the_carrier_with_a_working_signed_media_url(world, httpserver):
    """The extension user replies with text + PNG; the carrier gets an MMS whose media URL serves that PNG."""
    received = []

    def telnyx(request: Request) -> Response:
        received.append(request.get_json())
        return telnyx_accepts(request)

    httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(telnyx)
    client = world.login("alice")
    thread = "/conversations/+15550001001/+15557650001"
    response = post_form(client, thread, {"body": "see picture", "pictures": (_png_file(), "cat.png", "image/png")},
                         action=thread + "/reply", content_type="multipart/form-data")
    assert response.status_code == 302
    run_carrier_jobs(world, httpserver)
    sent = [body for body in received if body["text"] == "see picture"]
    assert len(sent) == 1
    assert sent[0]["to"] == "+15557650001" and sent[0]["from"] == "+15550001001"
    (media_url,) = sent[0]["media_urls"]
    anonymous = world.app.test_client()
    assert anonymous.get(media_url).data == PNG
    page = client.get(thread).text
    assert "see picture" in page and "sent" in page


def test_a_reply_that_will_be_split_says_so(world):
    """161 GSM characters: the reply is stored with 2 segments and the page warns it goes out as 2 SMS."""
    client = world.login("alice")
    thread = "/conversations/+15550001001/+15557650001"
    response = post_form(client, thread, {"body": "b" * 161}, action=thread + "/reply")
    assert response.status_code == 302
    assert "goes out as 2 SMS parts" in client.get(response.headers["Location"]).text
    with session_scope(world.services.sessions) as session:
        assert session.scalars(select(Message.segments).where(Message.body == "b" * 161)).one() == 2


def _png_file():
    return io.BytesIO(PNG)


def _inbound(world: World, text: str) -> None:
    with session_scope(world.services.sessions) as session:
        account = session.get(CarrierAccount, world.carriers["a.test"])
        event = InboundMessage(carrier_message_id=str(uuid.uuid4()), from_number="+15557650001",
                               to_numbers=("+15550001001",), text=text, media=(), received_at=None, raw={})
        store_carrier_events(session, account, [event], world.services.policy)


def test_open_conversation_streams_new_messages_and_status_changes(world):
    """The thread's event stream delivers a text that arrives after it opened, then that text's status change."""
    client = world.login("alice")
    thread = "/conversations/+15550001001/+15557650001"
    page = client.get(thread).text
    assert "hello 1001@a.test" in page
    last_id = world.messages["1001@a.test"]
    response = client.get(f"{thread}/events?after={last_id}", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")
    _inbound(world, "arrived while you looked")
    new = next(chunks).decode()
    assert "event: message" in new and "arrived while you looked" in new
    with session_scope(world.services.sessions) as session:
        message = session.scalars(select(Message).where(Message.body == "arrived while you looked")).one()
        message.status = MessageStatus.SENT
    changed = next(chunks).decode()
    assert "event: status" in changed and '"status": "sent"' in changed
    response.close()
    assert world.login("bea").get(f"{thread}/events").status_code == 404
    assert world.login("amos").get(f"{thread}/events").status_code == 404


def test_conversation_list_counts_unread_and_opening_marks_read(world):
    """Unread inbound texts are counted until the thread is opened."""
    client = world.login("alice")
    _inbound(world, "second one")
    assert 'aria-label="2 unread"' in client.get("/conversations/").text
    client.get("/conversations/+15550001001/+15557650001")
    assert "unread" not in client.get("/conversations/").text.split('id="conversations"')[1]
    assert "second one" in client.get("/conversations/?q=second").text
    assert "+15557650001" not in client.get("/conversations/?q=nothing-like-this").text


def test_failed_message_is_found_by_the_log_filters_exported_and_retried(world, httpserver):
    """The carrier refuses a reply for good → failed; the filters find it, CSV lists it, retry sends it again."""
    httpserver.expect_ordered_request("/v2/messages", method="POST").respond_with_json(
        {"errors": [{"code": "40300", "title": "Invalid 'to' address"}]}, status=400
    )
    httpserver.expect_ordered_request("/v2/messages", method="POST").respond_with_handler(telnyx_accepts)
    client = world.login("admin-a")
    thread = "/conversations/+15550001002/+15557650002"
    post_form(client, thread, {"body": "will fail first"}, action=thread + "/reply")
    with session_scope(world.services.sessions) as session:
        # Leave only this reply due, so the ordered carrier answers go to it.
        for job in session.scalars(select(Job).where(Job.state == JobState.PENDING)):
            if job.message.body != "will fail first":
                job.state = JobState.DONE
    run_carrier_jobs(world, httpserver)
    with session_scope(world.services.sessions) as session:
        failed = session.scalars(select(Message).where(Message.body == "will fail first")).one()
        assert failed.status is MessageStatus.FAILED
        message_id = failed.id
    found = client.get("/logs/messages?status=failed&direction=outbound&number=7650002&text=fail").text
    assert "will fail first" in found
    assert "will fail first" not in client.get("/logs/messages?status=delivered").text
    assert "will fail first" not in client.get("/logs/messages?start=2000-01-01&end=2000-01-02").text
    exported = client.get("/logs/messages.csv?status=failed").text.splitlines()
    assert exported[0] == "id,date,direction,from,to,text,type,segments,status,carrier,error"
    assert any("will fail first" in line and "40300" in line for line in exported[1:])
    detail = client.get(f"/logs/messages/{message_id}").text
    assert "Retry" in detail and "40300" in detail
    retried = post_form(client, f"/logs/messages/{message_id}", {}, action=f"/logs/messages/{message_id}/retry")
    assert retried.status_code == 302
    run_carrier_jobs(world, httpserver)
    with session_scope(world.services.sessions) as session:
        message = session.get(Message, message_id)
        assert message.status is MessageStatus.SENT
        assert [e.kind for e in message.events].count("retry") == 1
        assert message.direction is Direction.OUTBOUND


def test_new_conversation_from_an_own_number_only(world):
    """A user starts a conversation from their number; another user's number id is refused."""
    client = world.login("alice")
    started = post_form(client, "/conversations/new",
                        {"number_id": str(world.numbers["1001@a.test"]), "to": "555 765 9999", "body": "hi there"})
    assert started.status_code == 302
    assert started.headers["Location"].endswith("/conversations/+15550001001/+15557659999")
    refused = post_form(client, "/conversations/new",
                        {"number_id": str(world.numbers["1002@a.test"]), "to": "555 765 9999", "body": "sneaky"})
    assert refused.status_code == 400
    with session_scope(world.services.sessions) as session:
        assert session.scalars(select(Message).where(Message.body == "sneaky")).first() is None


def test_home_shows_todays_counts_and_registered_devices_for_the_scope(world):
    """Home counts today's texts and lists the registered phones of the user's scope only."""
    with session_scope(world.services.sessions) as session:
        for user, domain, agent in (("1001", "a.test", "Yealink T46U"), ("1002", "a.test", "Zoiper 5"),
                                    ("1001", "b.test", "Grandstream GXP2170")):
            session.add(SipRegistration(node="fs1", user=user, domain=domain, contact=f"sip:{user}@192.0.2.10",
                                        user_agent=agent, network_ip="192.0.2.10"))
    root = world.login("root").get("/").text
    admin_a = world.login("admin-a").get("/").text
    alice = world.login("alice").get("/").text
    bea = world.login("bea").get("/").text
    assert 'id="count-inbound">3<' in root and 'id="count-outbound">3<' in root
    assert 'id="count-inbound">1<' in bea and 'id="count-outbound">1<' in bea
    assert all(agent in root for agent in ("Yealink", "Zoiper", "Grandstream"))
    assert "Yealink" in admin_a and "Zoiper" in admin_a and "Grandstream" not in admin_a
    assert "Yealink" in alice and "Zoiper" not in alice and "Grandstream" not in alice
    assert "Grandstream" in bea and "Yealink" not in bea


def test_csv_export_neutralises_formulas_in_texts(world):
    """A text that starts like a spreadsheet formula is exported as text; phone numbers stay as they are."""
    _inbound(world, '=HYPERLINK("http://evil.example","click")')
    rows = list(csv.DictReader(io.StringIO(world.login("alice").get("/logs/messages.csv?text=HYPERLINK").text)))
    assert len(rows) == 1
    assert rows[0]["text"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[0]["from"] == "+15557650001"


def test_carrier_account_in_use_is_kept_and_an_unused_one_deleted(world):
    """Deleting an account that still carries numbers is refused; once unused it goes, its messages stay."""
    client = world.login("admin-b")
    account_id = world.carriers["b.test"]
    kept = post_form(client, "/settings/carriers", {}, action=f"/settings/carriers/{account_id}/delete")
    assert "still carries numbers" in client.get(kept.headers["Location"]).text
    post_form(client, "/settings/numbers", {}, action=f"/settings/numbers/{world.numbers['1001@b.test']}/delete")
    post_form(client, "/settings/carriers", {}, action=f"/settings/carriers/{account_id}/delete")
    with session_scope(world.services.sessions) as session:
        assert session.get(CarrierAccount, account_id) is None
        message = session.get(Message, world.messages["1001@b.test"])
        assert message is not None and message.carrier_account_id is None


def test_searches_match_percent_and_underscore_literally(world):
    """A search for "100%" finds only texts containing "100%", not every text (LIKE wildcards are escaped)."""
    _inbound(world, "we are 100% open")
    client = world.login("alice")
    assert len(list(csv.DictReader(io.StringIO(client.get("/logs/messages.csv?text=100%25").text)))) == 1
    assert len(list(csv.DictReader(io.StringIO(client.get("/logs/messages.csv?text=_").text)))) == 0
    assert "+15557650001" in client.get("/conversations/?q=100%25").text
    assert "+15557650001" not in client.get("/conversations/?q=%25%25").text


def test_group_mms_thread_with_three_participants_and_a_reply_to_all(world, httpserver):
    """Telnyx group MMS: texts from two members (the others in ``cc``) are one conversation; the reply goes out
    as one group MMS to all three."""
    a, b, c = "+15557650101", "+15557650102", "+15557650103"

    def group_text(sender: str, others: list[str], message_id: str, text: str) -> bytes:
        payload = fixture("message-received-sms.json")
        data = payload["data"]["payload"]
        data.update(id=message_id, text=text, to=[{"phone_number": "+15550001001"}],
                    cc=[{"phone_number": n} for n in others])
        data["from"]["phone_number"] = sender
        return json.dumps(payload).encode()

    with session_scope(world.services.sessions) as session:
        account = session.get(CarrierAccount, world.carriers["a.test"])
        adapter = world.services.adapters.get(account)
        for body in (group_text(a, [b, c], "g-1", "who brings the cake?"), group_text(b, [a, c], "g-2", "me!")):
            events = adapter.parse(WebhookRequest("POST", "https://x/", {}, {}, body))
            store_carrier_events(session, account, events, world.services.policy)
    key = ",".join(sorted((a, b, c)))
    client = world.login("alice")
    thread = f"/conversations/+15550001001/{key}"
    page = client.get(thread).text
    assert "who brings the cake?" in page and "me!" in page
    sent: list[dict] = []

    def group_mms(request: Request) -> Response:
        sent.append(request.get_json())
        return telnyx_accepts(request)

    httpserver.expect_request("/v2/messages/group_mms", method="POST").respond_with_handler(group_mms)
    assert post_form(client, thread, {"body": "I'll bring candles"}, action=thread + "/reply").status_code == 302
    run_carrier_jobs(world, httpserver)
    assert [(m["from"], sorted(m["to"]), m["text"]) for m in sent] == [
        ("+15550001001", sorted((a, b, c)), "I'll bring candles")
    ]
