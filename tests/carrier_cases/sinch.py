"""Sinch for the contract suite: Bearer-token batches API, HMAC-signed JSON callbacks."""

from __future__ import annotations

import json
import time

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.sinch import SinchAdapter, signature
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, posted

URL = "https://sms.example.com/webhooks/sinch/1"
SECRET = "callback-secret-contract"
NONCE = "01FJA8B4A7BM43YGWSG9GBV067"


def signed(body: bytes, *, secret: str = SECRET, timestamp: int | None = None, nonce: str = NONCE) -> WebhookRequest:
    """``body`` as Sinch posts a signed callback."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "x-sinch-webhook-signature-timestamp": stamp,
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-algorithm": "HmacSHA256",
        "x-sinch-webhook-signature": signature(secret.encode(), body, nonce, stamp),
    }
    return posted(URL, body, headers)


class SinchCase(CarrierCase):
    """Sinch SMS REST API (XMS)."""

    provider = "sinch"
    adapter_class = SinchAdapter
    send_path = "/xms/v1/plan-contract/batches"
    permanent_error_code = "syntax_invalid_parameter_format"
    fixtures = (
        ("mo-text.json", (Inbound("01FC66621XXXXX119Z8PMV1QPA", "+11203494390", ("11203453453",), "a body"),)),
        ("mo-media.json",
         (Inbound("01FC66621XXXXX119Z8PMV1QPA", "+11203494390", ("11203453453",), "my message",
                  ("https://foo.url",)),)),
        ("recipient-delivery-report-sms.json", (Status("01FC66621XXXXX119Z8PMV1QPQ", DeliveryStatus.SENT),)),
        ("recipient-delivery-report-mms.json", (Status("01FC66621XXXXX119Z8PMV1QPQ", DeliveryStatus.SENT),)),
        ("sdk-test-conversation-signed.json", ()),
    )

    def account_credentials(self) -> dict[str, str]:
        """Service plan, token and callback secret."""
        return {"service_plan_id": "plan-contract", "api_token": "token-contract", "webhook_secret": SECRET}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Bearer token; mt_text body, or mt_media with the first URL attached and the others as links."""
        assert request.headers["Authorization"] == "Bearer token-contract"
        assert request.mimetype == "application/json"
        sent = request.get_json()
        assert sent["from"] == message.from_number
        assert sent["to"] == list(message.to_numbers)
        assert sent["delivery_report"] == "per_recipient"
        assert sent["client_reference"] == message.reference
        if message.media_urls:
            first, *others = message.media_urls
            assert sent["type"] == "mt_media"
            assert sent["body"] == {"url": first, "message": "\n".join([message.text, *others])}
        else:
            assert (sent["type"], sent["body"]) == ("mt_text", message.text)

    def send_ok(self, message_id: str) -> Answer:
        """The documented batch answer with ``message_id``."""
        body = json.loads(self.payload("send-response-text.json"))
        body["id"] = message_id
        return 201, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def send_error(self, kind: str) -> Answer:
        """An invalid parameter (400), an empty 503, or an empty 429."""
        if kind == "permanent":
            body = self.payload("error-400-syntax-invalid-parameter-format.json")
            return 400, {"Content-Type": "application/json"}, body
        if kind == "retryable":
            return 503, {}, b""
        return 429, {"Retry-After": "7"}, b""

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed now with the account's secret."""
        return signed(body)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed now with another secret."""
        return signed(body, secret="guessed-secret")

    def replayed(self, body: bytes) -> WebhookRequest:
        """Signed with the right secret an hour ago."""
        return signed(body, timestamp=int(time.time()) - 3600)

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The documented recipient delivery report with another status and batch id."""
        body = json.loads(self.payload("recipient-delivery-report-sms.json"))
        body["status"] = carrier_status
        body["batch_id"] = message_id
        return json.dumps(body).encode()


CASE = SinchCase()
