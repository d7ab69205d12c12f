"""Flowroute for the contract suite: Basic-auth JSON:API sends, unsigned callbacks behind a URL secret."""

from __future__ import annotations

import json

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.flowroute import FlowrouteAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/flowroute/1"
DLR_ID = "mdr2-39cadeace66e11e7aff806cd7f24ba2d"


class FlowrouteCase(CarrierCase):
    """Flowroute Messages API v2.2."""

    provider = "flowroute"
    adapter_class = FlowrouteAdapter
    send_path = "/v2.2/messages"
    permanent_error_code = "400"
    fixtures = (
        ("inbound-sms.json",
         (Inbound("mdr2-ca82be46e6ba11e79d08862d092cf73d", "+12061232634", ("+12012673227",),
                  "Hello are you there? "),)),
        ("inbound-mms.json",
         (Inbound("mdr2-xxxxxxxxx", "+12345678900", ("+1234567890",), "",
                  ("https://s3.us-west-2.amazonaws.com/flowroute-messaging-media/xxxxxxxxx",)),)),
        ("dlr-level1-smsc-submit.json", (Status(DLR_ID, DeliveryStatus.SENT),)),
        ("dlr-level2-message-buffered.json", (Status(DLR_ID, DeliveryStatus.SENT),)),
        ("dlr-level2-delivered.json", (Status(DLR_ID, DeliveryStatus.DELIVERED),)),
        ("dlr-level2-undeliverable.json", (Status(DLR_ID, DeliveryStatus.UNDELIVERED, "1006"),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """Access key and secret key."""
        return {"access_key": "12345678", "secret_key": "fr-secret-contract"}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth, JSON:API body with to/from (E.164 without plus), body, is_mms and media_urls."""
        assert request.headers["Authorization"] == basic("12345678", "fr-secret-contract")
        assert request.mimetype == "application/vnd.api+json"
        sent = json.loads(request.get_data())
        assert sent["data"]["type"] == "message"
        attributes = sent["data"]["attributes"]
        assert attributes["to"] == message.to_numbers[0].removeprefix("+")
        assert attributes["from"] == message.from_number.removeprefix("+")
        assert attributes.get("body", "") == message.text
        assert tuple(attributes.get("media_urls", ())) == message.media_urls
        assert attributes.get("is_mms", False) is bool(message.media_urls)

    def send_ok(self, message_id: str) -> Answer:
        """The documented 202 Accepted with ``message_id``."""
        body = json.loads(self.payload("send-response.json"))
        body["data"]["id"] = message_id
        return 202, {"Content-Type": "application/vnd.api+json"}, json.dumps(body).encode()

    def send_error(self, kind: str) -> Answer:
        """A 400 client error, a 500, or a 429 with Retry-After."""
        name, status, headers = {
            "permanent": ("error-400-client-error.json", 400, {}),
            "retryable": ("error-500-server-error.json", 500, {}),
            "rate_limited": ("error-429-too-many-requests.json", 429, {"Retry-After": "7"}),
        }[kind]
        return status, {"Content-Type": "application/vnd.api+json", **headers}, self.payload(name)

    def _posted(self, body: bytes, secret: str | None) -> WebhookRequest:
        return posted(URL, body, {"Content-Type": "application/json"}, secret)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Posted to the account's URL, secret included."""
        return self._posted(body, self.webhook_secret)

    def forged(self, body: bytes) -> WebhookRequest:
        """Posted with a guessed secret."""
        return self._posted(body, "guessed-secret-0000")

    def replayed(self, body: bytes) -> None:
        """Flowroute puts no time in anything we could check."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The delivered receipt with another status and id."""
        body = json.loads(self.payload("dlr-level2-delivered.json"))
        body["data"]["id"] = message_id
        body["data"]["attributes"]["status"] = carrier_status
        return json.dumps(body).encode()


CASE = FlowrouteCase()
