"""Bandwidth for the contract suite: Basic-auth API, JSON-array callbacks with the application's Basic credentials."""

from __future__ import annotations

import json

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.bandwidth import BandwidthAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/bandwidth/1"
ACCOUNT_ID = "9900000"
MEDIA = "https://messaging.bandwidth.com/api/v2/users/{accountId}/media/14762070468292kw2fuqty55yp2b2/0/bw.png"
MESSAGE_ID = "14762070468292kw2fuqty55yp2b2"


class BandwidthCase(CarrierCase):
    """Bandwidth Messaging API v2."""

    provider = "bandwidth"
    adapter_class = BandwidthAdapter
    send_path = f"/api/v2/users/{ACCOUNT_ID}/messages"
    permanent_error_code = "request-validation"
    fixtures = (
        ("message-received.json",
         (Inbound(MESSAGE_ID, "+12345678901", ("+12345678902",), "Hey, check this out!", (MEDIA,)),)),
        ("message-received-group-mms.json",
         (Inbound(MESSAGE_ID, "+12345678901", ("+12345678902", "+12345678903"), "Hey, check this out!", (MEDIA,)),)),
        ("message-sending.json", (Status("1593110555875xo7watq5px6rbe5d", DeliveryStatus.QUEUED),)),
        ("message-delivered.json", (Status(MESSAGE_ID, DeliveryStatus.DELIVERED),)),
        ("message-delivered-toll-free.json", (Status("1585321273456iprz22vjeo4tvooc", DeliveryStatus.DELIVERED),)),
        ("message-delivered-mms.json", (Status(MESSAGE_ID, DeliveryStatus.DELIVERED),)),
        ("message-delivered-group-mms.json", (Status(MESSAGE_ID, DeliveryStatus.DELIVERED),)),
        ("message-failed.json", (Status(MESSAGE_ID, DeliveryStatus.FAILED, "4432"),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """API and callback credentials."""
        return {
            "account_id": ACCOUNT_ID,
            "username": "api-username",
            "password": "api-password-contract",
            "application_id": "93de2206-9669-4e07-948d-329f4b722ee2",
            "webhook_username": "callback-user",
            "webhook_password": "callback-password-contract",
        }

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth, JSON with applicationId/to[]/from/text, media for MMS, our reference as tag."""
        assert request.headers["Authorization"] == basic("api-username", "api-password-contract")
        assert request.mimetype == "application/json"
        sent = request.get_json()
        assert sent["applicationId"] == "93de2206-9669-4e07-948d-329f4b722ee2"
        assert sent["to"] == list(message.to_numbers)
        assert sent["from"] == message.from_number
        assert sent.get("text", "") == message.text
        assert tuple(sent.get("media", ())) == message.media_urls
        assert sent["tag"] == message.reference

    def send_ok(self, message_id: str) -> Answer:
        """The documented 202 with ``message_id``."""
        body = json.loads(self.payload("send-response.json"))
        body["id"] = message_id
        return 202, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def send_error(self, kind: str) -> Answer:
        """Request validation (400), an empty 503, or a full queue (429)."""
        if kind == "retryable":
            return 503, {}, b""
        name, status, headers = {
            "permanent": ("error-400-request-validation.json", 400, {}),
            "rate_limited": ("error-429-queue-full.json", 429, {"Retry-After": "7"}),
        }[kind]
        return status, {"Content-Type": "application/json; charset=utf-8", **headers}, self.payload(name)

    def _posted(self, body: bytes, authorization: str) -> WebhookRequest:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "BandwidthAPI/v2",
            "Authorization": authorization,
        }
        return posted(URL, body, headers)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """With the application's callback credentials."""
        return self._posted(body, basic("callback-user", "callback-password-contract"))

    def forged(self, body: bytes) -> WebhookRequest:
        """With a guessed password."""
        return self._posted(body, basic("callback-user", "password"))

    def replayed(self, body: bytes) -> None:
        """Basic auth has no timestamp."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The documented message-delivered callback with another type and id (the type is the status)."""
        body = json.loads(self.payload("message-delivered.json"))
        body[0]["type"] = carrier_status
        body[0]["message"]["id"] = message_id
        return json.dumps(body).encode()


CASE = BandwidthCase()
