"""Vonage for the contract suite: Basic-auth Messages API, webhooks signed with an HS256 JWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.vonage import VonageAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/vonage/1"
SIGNATURE_SECRET = "signature-secret-contract"
UUID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
OURS, THEIRS = "447700900000", "447700900001"


def _part(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_jwt(claims: dict[str, Any], secret: str, header: dict[str, Any] | None = None) -> str:
    """A compact JWT signed with HMAC-SHA256, as Vonage signs its webhooks."""
    signing_input = (
        _part(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode()) + "." + _part(json.dumps(claims).encode())
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_part(signature)}"


def signed(body: bytes, *, secret: str = SIGNATURE_SECRET, iat: float | None = None, **claims: Any) -> WebhookRequest:
    """``body`` as Vonage posts a signed webhook: claims as in Vonage's signed-webhooks guide."""
    token_claims = {
        "iat": int(time.time() if iat is None else iat),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d4",
        "application_id": "00000000-0000-4000-8000-000000000000",
        **claims,
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {hs256_jwt(token_claims, secret)}"}
    return posted(URL, body, headers)


class VonageCase(CarrierCase):
    """Vonage Messages API v1."""

    provider = "vonage"
    adapter_class = VonageAdapter
    send_path = "/v1/messages"
    permanent_error_code = "1150"
    fixtures = (
        ("inbound-sms.json", (Inbound(UUID, THEIRS, (OURS,), "Hello, world!"),)),
        ("inbound-mms-image.json", (Inbound(UUID, THEIRS, (OURS,), "", ("https://www.example.org/path/to/image.png",)),)),
        ("inbound-mms-vcard.json", (Inbound(UUID, THEIRS, (OURS,), "", ("ftp://example.com/contact.vcf",)),)),
        ("message-status-submitted.json", (Status(UUID, DeliveryStatus.SENT),)),
        ("message-status-undeliverable-mms.json", (Status(UUID, DeliveryStatus.UNDELIVERED),)),
        ("message-status-read-whatsapp.json", (Status(UUID, DeliveryStatus.DELIVERED),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """API key and secret, and the signature secret."""
        return {"api_key": "a1b2c3d4", "api_secret": "api-secret-contract", "signature_secret": SIGNATURE_SECRET}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth; numbers without +; sms text, or the mms media (several: one content message)."""
        assert request.headers["Authorization"] == basic("a1b2c3d4", "api-secret-contract")
        assert request.mimetype == "application/json"
        sent = request.get_json()
        assert sent["to"] == message.to_numbers[0].removeprefix("+")
        assert sent["from"] == message.from_number.removeprefix("+")
        assert sent["client_ref"] == message.reference
        if not message.media_urls:
            assert (sent["channel"], sent["message_type"], sent["text"]) == ("sms", "text", message.text)
            return
        first, *others = message.media_urls
        assert (sent["channel"], sent["message_type"]) == ("mms", "content")
        assert sent["content"] == [
            {"type": "image", "url": first, "caption": message.text},
            *({"type": "image", "url": url} for url in others),
        ]

    def send_ok(self, message_id: str) -> Answer:
        """The documented 202 with ``message_id``."""
        return 202, {"Content-Type": "application/json"}, json.dumps({"message_uuid": message_id}).encode()

    def send_error(self, kind: str) -> Answer:
        """Invalid parameters (422), the gateway's 500, or its 429."""
        name, status, headers = {
            "permanent": ("error-invalid-params.json", 422, {}),
            "retryable": ("error-500.json", 500, {}),
            "rate_limited": ("error-429.json", 429, {"Retry-After": "7"}),
        }[kind]
        return status, {"Content-Type": "application/json", **headers}, self.payload(name)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed now with the account's signature secret."""
        return signed(body)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed now with another secret."""
        return signed(body, secret="guessed-secret")

    def replayed(self, body: bytes) -> WebhookRequest:
        """Signed with the right secret an hour ago."""
        return signed(body, iat=time.time() - 3600)

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The documented message-status with another status and id."""
        body = json.loads(self.payload("message-status-undeliverable-mms.json"))
        body["status"] = carrier_status
        body["message_uuid"] = message_id
        return json.dumps(body).encode()


CASE = VonageCase()
