"""SignalWire for the contract suite: the Compatibility API on a Space URL, webhooks signed with the Signing Key."""

from __future__ import annotations

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.signalwire import SignalWireAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status

# SignalWire's Compatibility API speaks Twilio's protocol: the same form sends, signatures and status callbacks.
from tests.carrier_cases.twilio import check_form_send, signed_form, status_form

URL = "https://sms.example.com/webhooks/signalwire/1"
PROJECT_ID = "ea108133-d6b3-407c-9536-9fad8a929a6a"
API_TOKEN = "PTcontract0123456789abcdef"
SIGNING_KEY = "PSKcontract-signing-key-0001"
SENT = "0a059168-ead0-41af-9d1f-343dae832527"
MEDIA = (
    f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT_ID}/Messages/"
    "7e9f1f9a-4c5b-4f0e-9d43-2b5d0c3a8e11/Media/b3877c40-da60-4998-90ad-b792e98472me"
)


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

    def account_credentials(self) -> dict[str, str]:
        """Project ID, API token, Space URL and Signing Key."""
        return {
            "project_id": PROJECT_ID,
            "api_token": API_TOKEN,
            "space_url": "example.signalwire.com",
            "signing_key": SIGNING_KEY,
        }

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth (Project ID, API token), a form with To/From/Body and one MediaUrl per attachment."""
        check_form_send(request, message, PROJECT_ID, API_TOKEN)

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

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed with the project's Signing Key."""
        return signed_form(URL, "X-SignalWire-Signature", SIGNING_KEY, body)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed with the API token instead of the Signing Key."""
        return signed_form(URL, "X-SignalWire-Signature", API_TOKEN, body)

    def replayed(self, body: bytes) -> None:
        """SignalWire signs no time."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The delivered status callback with another MessageStatus and MessageSid."""
        return status_form(self.payload("status-delivered.form"), carrier_status, message_id)


CASE = SignalWireCase()
