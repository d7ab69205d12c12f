"""Telnyx for the contract suite: Bearer API key, Ed25519-signed JSON webhooks."""

from __future__ import annotations

import base64
import json
import time

from nacl.signing import SigningKey
from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.telnyx import TelnyxAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, posted

URL = "https://sms.example.com/webhooks/telnyx/1"


class TelnyxCase(CarrierCase):
    """Telnyx Messaging API v2."""

    provider = "telnyx"
    adapter_class = TelnyxAdapter
    send_path = "/v2/messages"
    permanent_error_code = "40310"
    fixtures = (
        ("message-received-sms.json",
         (Inbound("84cca175-9755-4859-b67f-4730d7f58aa3", "+13125550001", ("+17735550002",), "Hello from Telnyx!"),)),
        ("message-received-mms.json",
         (Inbound("84cca175-9755-4859-b67f-4730d7f58aa3", "+13125550001", ("+17735550002",), "Hello from Telnyx!",
                  ("https://media.telnyx.com/example-image.png",)),)),
        ("message-sent.json", (Status("ac012cbf-5e09-46af-a69a-7c0e2d90993c", DeliveryStatus.SENT),)),
        ("message-finalized-delivered.json",
         (Status("ac012cbf-5e09-46af-a69a-7c0e2d90993c", DeliveryStatus.DELIVERED),)),
        ("message-finalized-failed.json",
         (Status("ac012cbf-5e09-46af-a69a-7c0e2d90993c", DeliveryStatus.UNDELIVERED, "40300"),)),
    )

    def __init__(self) -> None:
        self.key = SigningKey.generate()

    def account_credentials(self) -> dict[str, str]:
        """API key and the account's public key."""
        public_key = base64.b64encode(bytes(self.key.verify_key)).decode()
        return {"api_key": "KEY0123_contract", "public_key": public_key}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Bearer key, JSON with from/to/text and media_urls for MMS."""
        assert request.headers["Authorization"] == "Bearer KEY0123_contract"
        assert request.mimetype == "application/json"
        sent = request.get_json()
        assert sent["from"] == message.from_number
        assert sent["to"] == message.to_numbers[0]
        assert sent.get("text", "") == message.text
        assert tuple(sent.get("media_urls", ())) == message.media_urls

    def send_ok(self, message_id: str) -> Answer:
        """The documented send response with ``message_id``."""
        body = json.loads(self.payload("send-response.json"))
        body["data"]["id"] = message_id
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def send_error(self, kind: str) -> Answer:
        """Invalid destination (40310), an unexpected error (500), or rate limiting (429)."""
        name, status, headers = {
            "permanent": ("error-400-invalid-to-address.json", 400, {}),
            "retryable": ("error-500-unexpected.json", 500, {}),
            "rate_limited": ("error-429-too-many-requests.json", 429, {"Retry-After": "7"}),
        }[kind]
        return status, {"Content-Type": "application/json", **headers}, self.payload(name)

    def _signed(self, body: bytes, timestamp: int, key: SigningKey) -> WebhookRequest:
        signature = key.sign(f"{timestamp}|".encode() + body).signature
        headers = {
            "Content-Type": "application/json",
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": str(timestamp),
        }
        return posted(URL, body, headers)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed now with the account's key."""
        return self._signed(body, int(time.time()), self.key)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed now with another key."""
        return self._signed(body, int(time.time()), SigningKey.generate())

    def replayed(self, body: bytes) -> WebhookRequest:
        """Signed with the right key an hour ago."""
        return self._signed(body, int(time.time()) - 3600, self.key)

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The documented message.finalized example with another status and id."""
        body = json.loads(self.payload("message-finalized-delivered.json"))
        body["data"]["payload"]["id"] = message_id
        body["data"]["payload"]["to"][0]["status"] = carrier_status
        return json.dumps(body).encode()


CASE = TelnyxCase()
