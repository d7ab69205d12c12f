"""SignalWire for the contract suite: the Compatibility API on a Space URL, webhooks signed with the Signing Key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.signalwire import SignalWireAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status

URL = "https://sms.example.com/webhooks/signalwire/1"
PROJECT_ID = "ea108133-d6b3-407c-9536-9fad8a929a6a"
API_TOKEN = "PTcontract0123456789abcdef"
SIGNING_KEY = "PSKcontract-signing-key-0001"
SENT = "0a059168-ead0-41af-9d1f-343dae832527"
MEDIA = (
    f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT_ID}/Messages/"
    "7e9f1f9a-4c5b-4f0e-9d43-2b5d0c3a8e11/Media/b3877c40-da60-4998-90ad-b792e98472me"
)


def signalwire_signature(key: str, url: str, body: bytes) -> str:
    """The Compatibility SDK's signature: URL, then each name+value sorted by name; HMAC-SHA1, base64."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    data = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


class SignalWireCase(CarrierCase):
    """SignalWire Compatibility (LaML) Messages API."""

    provider = "signalwire"
    adapter_class = SignalWireAdapter
    send_path = f"/api/laml/2010-04-01/Accounts/{PROJECT_ID}/Messages.json"
    permanent_error_code = "20003"
    fixtures = (
        ("inbound-sms.form",
         (Inbound("b3877c40-da60-4998-90ad-b792e98472af", "+15551234567", ("+15557654321",), "Hello World!"),)),
        ("inbound-mms.form",
         (Inbound("7e9f1f9a-4c5b-4f0e-9d43-2b5d0c3a8e11", "+15551234567", ("+15557654321",), "", (MEDIA,)),)),
        ("status-sent.form", (Status(SENT, DeliveryStatus.SENT),)),
        ("status-delivered.form", (Status(SENT, DeliveryStatus.DELIVERED),)),
        ("status-undelivered.form", (Status(SENT, DeliveryStatus.UNDELIVERED),)),
        ("status-failed-30001.form", (Status(SENT, DeliveryStatus.FAILED, "30001"),)),
    )

    def credentials(self, base_url: str | None = None) -> dict[str, str]:
        """Project ID, API token, Space URL and Signing Key."""
        credentials = {
            "project_id": PROJECT_ID,
            "api_token": API_TOKEN,
            "space_url": "example.signalwire.com",
            "signing_key": SIGNING_KEY,
        }
        if base_url:
            credentials["base_url"] = base_url
        return credentials

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth (Project ID, API token), a form with To/From/Body and one MediaUrl per attachment."""
        expected_auth = base64.b64encode(f"{PROJECT_ID}:{API_TOKEN}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected_auth}"
        assert request.mimetype == "application/x-www-form-urlencoded"
        assert request.form["To"] == message.to_numbers[0]
        assert request.form["From"] == message.from_number
        assert request.form.get("Body", "") == message.text
        assert tuple(request.form.getlist("MediaUrl")) == message.media_urls

    def send_ok(self, message_id: str) -> Answer:
        """The documented sample message resource, with ``message_id`` as its sid."""
        return 201, {"Content-Type": "application/json"}, self.payload("send-response.json").replace(
            SENT.encode(), message_id.encode()
        )

    def send_error(self, kind: str) -> Answer:
        """Authentication failed (20003, documented); 503 and 429 as bare HTTP answers (no documented body)."""
        if kind == "permanent":
            return 401, {"Content-Type": "application/json"}, self.payload("error-401-authentication-failed.json")
        if kind == "retryable":
            return 503, {"Content-Type": "text/plain"}, b"Service Unavailable"
        return 429, {"Content-Type": "text/plain", "Retry-After": "7"}, b"Too Many Requests"

    def _signed(self, body: bytes, key: str) -> WebhookRequest:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-SignalWire-Signature": signalwire_signature(key, URL, body),
        }
        return WebhookRequest(method="POST", url=URL, headers=headers, query={}, body=body)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed with the project's Signing Key."""
        return self._signed(body, SIGNING_KEY)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed with the API token instead of the Signing Key."""
        return self._signed(body, API_TOKEN)

    def replayed(self, body: bytes) -> None:
        """SignalWire signs no time."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The delivered status callback with another MessageStatus and MessageSid."""
        form = dict(parse_qsl(self.payload("status-delivered.form").decode(), keep_blank_values=True))
        form.update(MessageSid=message_id, SmsSid=message_id, MessageStatus=carrier_status, SmsStatus=carrier_status)
        return urlencode(form).encode()


CASE = SignalWireCase()
