"""Commio (thinQ) for the contract suite: Basic-auth sends on the account's origination API, unsigned form
webhooks behind a URL secret."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.commio import CommioAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/commio/1"
FORM = "application/x-www-form-urlencoded"


class CommioCase(CarrierCase):
    """Commio origination API."""

    provider = "commio"
    adapter_class = CommioAdapter
    # SMS and MMS have their own endpoints.
    send_path = re.compile(r"^/account/1234/product/origination/(sms|mms)/send$")
    # One media URL per MMS and no text beside it (the carrier's documented limit).
    mms = OutboundMessage(
        from_number="+15551234567",
        to_numbers=("+15559876543",),
        text="",
        media_urls=("https://sms.example.com/media/abc?sig=1",),
        reference="2",
    )
    # Commio's error bodies carry no code, only text.
    permanent_error_code = None
    fixtures = (
        ("inbound-sms.form",
         (Inbound("commio-01c742ddd285eb04a76acea72551c6c2", "+12065551234", ("+12065551212",), "hello world"),)),
        ("inbound-mms.form",
         (Inbound("commio-6eb6e4546c9c4de07c267f179ccbb448", "+12065551234", ("+12065551212",), "",
                  ("http://foo.bar/foo.png",)),)),
        ("dlr-delivered.form", (Status("1234", DeliveryStatus.DELIVERED),)),
        ("dlr-undelivered.form",
         (Status("9f3c2b1a-7d4e-4c5f-8a6b-0e1d2c3b4a59", DeliveryStatus.UNDELIVERED, "001"),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """Account 1234, portal user and API token."""
        return {"account_id": "1234", "username": "user1", "api_token": "sesame"}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth; SMS as JSON from_did/to_did/message, MMS as a multipart form with media_url;
        numbers as ten digits."""
        assert request.headers["Authorization"] == basic("user1", "sesame")
        if message.media_urls:
            assert request.path.endswith("/mms/send")
            assert request.mimetype == "multipart/form-data"
            sent = request.form.to_dict(flat=False)
            assert sent.pop("media_url") == list(message.media_urls)
            assert {name: values for name, values in sent.items()} == {
                "from_did": [message.from_number.removeprefix("+1")],
                "to_did": [message.to_numbers[0].removeprefix("+1")],
            }
        else:
            assert request.path.endswith("/sms/send")
            assert request.mimetype == "application/json"
            assert request.get_json() == {
                "from_did": message.from_number.removeprefix("+1"),
                "to_did": message.to_numbers[0].removeprefix("+1"),
                "message": message.text,
            }

    def send_ok(self, message_id: str) -> Answer:
        """The guid answer with ``message_id``."""
        body = json.loads(self.payload("send-response.json"))
        body["guid"] = message_id
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def send_error(self, kind: str) -> Answer:
        """A refusal (400), a 500, or a 429 with Retry-After, each with Commio's error body."""
        status, headers = {"permanent": (400, {}), "retryable": (500, {}), "rate_limited": (429, {"Retry-After": "7"})}[
            kind
        ]
        return status, {"Content-Type": "application/json", **headers}, self.payload("error-failed.json")

    def _posted(self, body: bytes, secret: str | None, content_type: str | None) -> WebhookRequest:
        return posted(URL, body, {"Content-Type": content_type or FORM}, secret)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Posted to the account's URL, secret included."""
        return self._posted(body, self.webhook_secret, content_type)

    def forged(self, body: bytes) -> WebhookRequest:
        """Posted with another account's secret."""
        return self._posted(body, "url-secret-of-another-account", None)

    def replayed(self, body: bytes) -> None:
        """Commio signs no time."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The full notification form with another status and guid."""
        fields = dict(parse_qsl(self.payload("dlr-undelivered.form").decode(), keep_blank_values=True))
        fields.update(status=carrier_status, guid=message_id)
        return urlencode(fields).encode()


CASE = CommioCase()
