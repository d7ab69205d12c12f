"""The dashboard in a real browser: Playwright drives Debian's Chromium against the real ``fspbx-sms run``
process on loopback, with the ESL simulator as FreeSWITCH and a loopback HTTP server as Telnyx.

One admin session walks the whole path: log in; add a carrier account and a number; a signed inbound webhook
appears in the open conversation without reload; a reply with a picture reaches the carrier as an MMS whose
media URL works; the logs filter finds it; a failed message is retried. Each page is saved as a screenshot
under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from nacl.signing import SigningKey
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug import Request, Response

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PAYLOADS = Path(__file__).parent / "payloads" / "telnyx"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
PASSWORD = "correct horse battery"
OUR_NUMBER = "+15550001001"
TEXTER = "+13125550001"


def make_png(width: int, height: int) -> bytes:
    """A real RGB PNG with a colour gradient, big enough to see in the screenshots."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(value for x in range(width) for value in (x * 255 // width, y * 255 // height, 180))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = make_png(160, 120)
#: Explicit waits on elements (ms): generous, since the service runs in another process on a shared machine.
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, started once for the module (never a downloaded browser)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, service) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the running service."""
    context = browser.new_context(base_url=service.base_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> None:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds (explicit wait for out-of-browser effects)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class FakeTelnyx:
    """Telnyx's send API on loopback: records each send, refuses texts containing "please fail" once."""

    def __init__(self, httpserver):
        self.sent: list[dict] = []
        self.refused: set[str] = set()
        httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(self.send)
        self.base_url = httpserver.url_for("").rstrip("/")
        self.key = SigningKey.generate()
        self.public_key = base64.b64encode(bytes(self.key.verify_key)).decode()

    def send(self, request: Request) -> Response:
        """``POST /v2/messages`` as Telnyx answers it (documented 400 body for a refused address)."""
        body = request.get_json()
        if "please fail" in body["text"] and body["text"] not in self.refused:
            self.refused.add(body["text"])
            error = json.loads((PAYLOADS / "error-400-invalid-to-address.json").read_bytes())
            return Response(json.dumps(error), status=400, content_type="application/json")
        self.sent.append(body)
        answer = {"data": {"id": str(uuid.uuid4()), "to": [{"status": "queued", "phone_number": body["to"]}]}}
        return Response(json.dumps(answer), status=200, content_type="application/json")

    def webhook(self, service, path: str, text: str) -> requests.Response:
        """POST a documented ``message.received`` webhook for ``text``, signed the way Telnyx signs."""
        payload = copy.deepcopy(json.loads((PAYLOADS / "message-received-sms.json").read_bytes()))
        data = payload["data"]["payload"]
        data["id"], data["text"] = str(uuid.uuid4()), text
        data["from"]["phone_number"], data["to"][0]["phone_number"] = TEXTER, OUR_NUMBER
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(self.key.sign(stamp.encode() + b"|" + body).signature).decode()
        return service.post(path, body, {"Content-Type": "application/json", "telnyx-timestamp": stamp,
                                         "telnyx-signature-ed25519": signature})


def log_in(page: Page, username: str) -> None:
    """Fill and send the login form."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Today")).to_be_visible()


def test_admin_sets_up_texts_live_replies_with_a_picture_and_retries(service, page, httpserver):
    """The whole dashboard path in Chromium, against the real service."""
    telnyx = FakeTelnyx(httpserver)
    service.cli("user", "add", "admin", "--role", "admin", "--domain", "pbx.test", input=PASSWORD + "\n")
    service.cli("user", "add", "alice", "--role", "user", "--extension", "1001@pbx.test", input=PASSWORD + "\n")

    page.goto("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot(page, "admin-01-login")
    log_in(page, "admin")
    screenshot(page, "admin-02-home")

    # Carrier account: the form lists Telnyx's credential fields; the webhook URL is shown with a copy button.
    page.get_by_role("link", name="Carriers").click()
    page.get_by_role("button", name="Add carrier account").click()
    page.get_by_label("Account name").fill("telnyx-main")
    page.get_by_label("api key (required)").fill("KEY-browser-secret")
    page.get_by_label("public key (required)").fill(telnyx.public_key)
    page.get_by_label("API base URL (optional)").fill(telnyx.base_url)
    screenshot(page, "admin-03-carrier-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Carrier account telnyx-main saved.")
    webhook_url = page.get_by_label("Webhook URL of telnyx-main").input_value()
    assert webhook_url.startswith(service.base_url + "/webhooks/telnyx/")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    screenshot(page, "admin-04-carriers")
    webhook_path = webhook_url.removeprefix(service.base_url)

    # Number: typed loosely, stored as E.164, routed to extension 1001.
    page.get_by_role("link", name="Numbers").click()
    page.get_by_role("link", name="Add number").click()
    page.get_by_label("Phone number").fill("(555) 000-1001")
    page.get_by_label("Carrier account").select_option(label="telnyx-main (telnyx)")
    page.get_by_label("Destination extension").fill("1001")
    screenshot(page, "admin-05-number-form")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#numbers")).to_contain_text(OUR_NUMBER)
    screenshot(page, "admin-06-numbers")

    # A first text opens the conversation; a second one appears in it without reloading.
    assert telnyx.webhook(service, webhook_path, "Hi, is the shop open?").status_code == 200
    page.get_by_role("link", name="Conversations").click()
    page.get_by_role("link", name=TEXTER).click()
    expect(page.locator("#bubbles")).to_contain_text("Hi, is the shop open?")
    expect(page.locator("#live-state")).to_have_text("live")
    page.evaluate("window.notReloaded = true")
    assert telnyx.webhook(service, webhook_path, "Also: do you sell stamps?").status_code == 200
    expect(page.locator(".bubble.inbound").last).to_contain_text("Also: do you sell stamps?")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "admin-07-conversation-live")

    # Reply with a picture: the carrier gets an MMS whose media URL serves the picture to anyone holding it.
    page.get_by_label("Reply").fill("Yes! Here is our picture reply")
    page.get_by_label("Pictures").set_input_files(files=[{"name": "shop.png", "mimeType": "image/png",
                                                          "buffer": PNG}])
    page.get_by_role("button", name="Send").click()
    reply = page.locator(".bubble.outbound").filter(has_text="Here is our picture reply")
    expect(reply.locator(".status")).to_have_text("sent")
    expect(reply.locator("img")).to_be_visible()
    assert reply.locator("img").evaluate("picture => picture.naturalWidth") == 160
    wait_until(lambda: any(s["text"] == "Yes! Here is our picture reply" for s in telnyx.sent), "the MMS")
    mms = next(s for s in telnyx.sent if s["text"] == "Yes! Here is our picture reply")
    assert (mms["from"], mms["to"]) == (OUR_NUMBER, TEXTER)
    (media_url,) = mms["media_urls"]
    assert media_url.startswith(service.base_url + "/media/")
    fetched = requests.get(media_url, timeout=10)
    assert (fetched.status_code, fetched.headers["Content-Type"], fetched.content) == (200, "image/png", PNG)
    assert requests.get(media_url.split("?")[0], timeout=10).status_code == 403
    screenshot(page, "admin-08-conversation-reply")

    # Logs: the filter finds the picture reply.
    page.get_by_role("link", name="Logs").click()
    page.get_by_label("Text").fill("picture reply")
    page.get_by_label("Direction").select_option("outbound")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("MMS")
    expect(rows.first).to_contain_text("Yes! Here is our picture reply")
    screenshot(page, "admin-09-logs-filtered")

    # A text the carrier refuses fails (shown live in the thread); retry from its log entry sends it.
    page.go_back()
    page.go_back()
    page.get_by_label("Reply").fill("please fail this one")
    page.get_by_role("button", name="Send").click()
    failing = page.locator(".bubble.outbound").filter(has_text="please fail this one")
    expect(failing.locator(".status")).to_have_text("failed")
    page.get_by_role("link", name="Logs").click()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.locator("#messages tbody tr").first.get_by_role("link").click()
    expect(page.locator("#fact-status")).to_have_text("failed")
    screenshot(page, "admin-10-log-detail-failed")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("Retrying")
    wait_until(lambda: any(s["text"] == "please fail this one" for s in telnyx.sent), "the retried send")
    page.reload()
    expect(page.locator("#fact-status")).to_have_text("sent")
    screenshot(page, "admin-11-log-detail-retried")

    # Home counts today's texts: two received, two sent (the picture reply and the retried one), none failed.
    page.get_by_role("link", name="fspbx-sms").click()
    expect(page.locator("#count-inbound")).to_have_text("2")
    expect(page.locator("#count-outbound")).to_have_text("2")
    expect(page.locator("#count-failed")).to_have_text("0")
    screenshot(page, "admin-12-home-after")


def test_extension_user_sees_only_their_conversations_and_no_settings(service, page, httpserver):
    """An extension user's navigation has no settings, and a settings URL shows the 403 page."""
    telnyx = FakeTelnyx(httpserver)
    service.cli("user", "add", "alice", "--role", "user", "--extension", "1001@pbx.test", input=PASSWORD + "\n")
    account = service.cli_json("carrier", "add", "--provider", "telnyx", "--name", "telnyx-main",
                               "--set", "api_key=KEY-x", "--set", f"public_key={telnyx.public_key}",
                               "--set", f"base_url={telnyx.base_url}")
    service.cli("number", "add", OUR_NUMBER, "--carrier", "telnyx-main", "--extension", "1001@pbx.test")
    assert telnyx.webhook(service, f"/webhooks/telnyx/{account['id']}", "hello alice").status_code == 200
    # Keyboard only: the username field has focus, Tab moves to the password, Enter sends the form.
    page.goto("/login")
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Today")).to_be_visible()
    expect(page.get_by_role("link", name="Numbers")).to_have_count(0)
    page.get_by_role("link", name="Conversations").click()
    expect(page.locator("#conversations")).to_contain_text("hello alice")
    expect(page.locator("#conversations .badge")).to_have_text("1")
    screenshot(page, "user-01-conversations")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name=TEXTER).click()
    expect(page.locator("#bubbles")).to_contain_text("hello alice")
    expect(page.get_by_label("Reply")).to_be_visible()
    screenshot(page, "user-02-thread-phone-size")
    page.get_by_role("link", name="Back to conversations").click()
    page.get_by_role("link", name="New conversation").click()
    expect(page.get_by_label("From")).to_have_value(re.compile(r"\d+"))
    screenshot(page, "user-03-new-conversation")
    page.get_by_role("link", name="alice (user)").click()
    page.get_by_role("button", name="Create a new API token").click()
    token = page.get_by_label("Your new API token").input_value()
    numbers = requests.get(service.base_url + "/api/v1/numbers", headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
    assert [n["number"] for n in numbers.json()] == [OUR_NUMBER]
    screenshot(page, "user-04-api-token")
    page.goto("/settings/numbers")
    expect(page.get_by_role("heading", name="403 · Not allowed")).to_be_visible()
    screenshot(page, "user-05-forbidden")
