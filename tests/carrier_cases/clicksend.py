"""ClickSend for the contract suite: Basic-auth JSON sends with per-message statuses, unsigned pushes behind a
URL secret (form-encoded or JSON, as the rule's webhook type says)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.clicksend import ClickSendAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/clicksend/1"
FORM = "application/x-www-form-urlencoded"
SENT_ID = "BF7AD270-0DE2-418B-B606-71D527D9C1AE"
INBOUND_ID = "1F12D781-99C1-6D94-96FE-F5A311C8997D"


class ClickSendCase(CarrierCase):
    """ClickSend REST v3."""

    provider = "clicksend"
    adapter_class = ClickSendAdapter
    # SMS and MMS have their own endpoints.
    send_path = re.compile(r"^/v3/(sms|mms)/send$")
    # One media URL per MMS (the carrier's documented limit).
    mms = OutboundMessage(
        from_number="+15551234567",
        to_numbers=("+15559876543",),
        text="Look at this",
        media_urls=("https://sms.example.com/media/abc?sig=1",),
        reference="2",
    )
    permanent_error_code = "INVALID_RECIPIENT"
    fixtures = (
        ("inbound-sms.form", (Inbound(INBOUND_ID, "+61429912603", ("+61477485926",), "trigger reply"),)),
        ("inbound-sms.json", (Inbound(INBOUND_ID, "+61429912603", ("+61477485926",), "trigger reply"),)),
        ("inbound-mms.form",
         (Inbound("5C1E2D3F-4A5B-4C6D-8E9F-0A1B2C3D4E5F", "+14155550100", ("+14155550199",), "Look at this",
                  ("https://rest.clicksend.com/files/E3A3B1C2-5D6E-4F70-8A9B-0C1D2E3F4A5B.jpg",)),)),
        ("dlr-delivered.form", (Status(SENT_ID, DeliveryStatus.DELIVERED),)),
        ("dlr-undelivered.json", (Status(SENT_ID, DeliveryStatus.UNDELIVERED, "301"),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """API username and key."""
        return {"username": "contract-user", "api_key": "CS-KEY-0123456789"}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth; ``messages[0]`` with source/from/to/body; MMS on its endpoint with media_file and subject."""
        assert request.headers["Authorization"] == basic("contract-user", "CS-KEY-0123456789")
        assert request.mimetype == "application/json"
        sent = request.get_json()
        (entry,) = sent["messages"]
        assert entry["source"] == "fspbx-sms"
        assert entry["from"] == message.from_number
        assert entry["to"] == message.to_numbers[0]
        assert entry["body"] == message.text
        if message.media_urls:
            assert request.path == "/v3/mms/send"
            assert (sent["media_file"],) == message.media_urls
            assert entry["subject"] == "MMS"
        else:
            assert request.path == "/v3/sms/send"
            assert "media_file" not in sent

    def send_ok(self, message_id: str) -> Answer:
        """The documented answer, its first message carrying ``message_id``."""
        body = json.loads(self.payload("send-response-sms.json"))
        body["data"]["messages"][0]["message_id"] = message_id
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def send_error(self, kind: str) -> Answer:
        """INVALID_RECIPIENT inside an HTTP 200, a 500, or a 429 with Retry-After."""
        name, status, headers = {
            "permanent": ("send-response-invalid-recipient.json", 200, {}),
            "retryable": ("error-500-internal-server-error.json", 500, {}),
            "rate_limited": ("error-429-too-many-requests.json", 429, {"Retry-After": "7"}),
        }[kind]
        return status, {"Content-Type": "application/json", **headers}, self.payload(name)

    def _posted(self, body: bytes, secret: str | None, content_type: str | None) -> WebhookRequest:
        if content_type is None:
            content_type = "application/json" if body.lstrip()[:1] == b"{" else FORM
        return posted(URL, body, {"Content-Type": content_type}, secret)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Posted to the account's URL, secret included."""
        return self._posted(body, self.webhook_secret, content_type)

    def forged(self, body: bytes) -> WebhookRequest:
        """Posted without the secret."""
        return self._posted(body, None, None)

    def replayed(self, body: bytes) -> None:
        """ClickSend signs no time."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The delivered receipt form with another status and id."""
        fields = dict(parse_qsl(self.payload("dlr-delivered.form").decode(), keep_blank_values=True))
        fields.update(status=carrier_status, message_id=message_id)
        return urlencode(fields).encode()


CASE = ClickSendCase()
