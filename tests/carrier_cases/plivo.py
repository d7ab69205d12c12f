"""Plivo for the contract suite: JSON sends with Basic auth, form callbacks signed with Plivo's V3 signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.plivo import PlivoAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/plivo/1"
AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
AUTH_TOKEN = "plivo-auth-token-contract-0001"
SENT = "5b40a428-bfc7-4daf-9d06-726c558bf3b8"
MEDIA = "https://media.plivo.com/Account/MAXXXXXXXXXXXXXXXXXX/Message/2e5a4c1f-6f2a-11ee-8c99-0242ac120002/Media/"


def plivo_v3_signature(key: str, url: str, body: bytes, nonce: str) -> str:
    """X-Plivo-Signature-V3 of a POST to ``url`` (no query) as plivo-python computes it."""
    fields = sorted(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    signed = (url + "?" + "".join(name + value for name, value in fields)) if fields else url
    return base64.b64encode(hmac.new(key.encode(), f"{signed}.{nonce}".encode(), hashlib.sha256).digest()).decode()


class PlivoCase(CarrierCase):
    """Plivo Messaging API."""

    provider = "plivo"
    adapter_class = PlivoAdapter
    send_path = f"/v1/Account/{AUTH_ID}/Message/"
    permanent_error_code = None
    fixtures = (
        ("incoming-sms.form",
         (Inbound("1d4f3b0e-6f2a-11ee-8c99-0242ac120002", "14155551234", ("14155557654",), "Hello, from Plivo"),)),
        ("incoming-mms.form",
         (Inbound("2e5a4c1f-6f2a-11ee-8c99-0242ac120002", "14155551234", ("14155557654",), "Pictures",
                  (MEDIA + "3f6b5d20-6f2a-11ee-8c99-0242ac120002", MEDIA + "4a7c6e31-6f2a-11ee-8c99-0242ac120002")),)),
        ("status-queued.form", (Status(SENT, DeliveryStatus.QUEUED),)),
        ("status-sent.form", (Status(SENT, DeliveryStatus.SENT),)),
        ("status-delivered.form", (Status(SENT, DeliveryStatus.DELIVERED),)),
        ("status-undelivered-80.form", (Status(SENT, DeliveryStatus.UNDELIVERED, "80"),)),
        ("status-failed-200.form", (Status(SENT, DeliveryStatus.FAILED, "200"),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """Auth ID and auth token."""
        return {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth; JSON src/dst/text, and type=mms with media_urls for an MMS."""
        assert request.headers["Authorization"] == basic(AUTH_ID, AUTH_TOKEN)
        assert request.mimetype == "application/json"
        sent = request.get_json()
        assert (sent["src"], sent["dst"]) == (message.from_number, message.to_numbers[0])
        assert sent.get("text", "") == message.text
        if message.media_urls:
            assert sent["type"] == "mms"
            assert tuple(sent["media_urls"]) == message.media_urls
        else:
            assert "type" not in sent and "media_urls" not in sent

    def send_ok(self, message_id: str) -> Answer:
        """plivo-python's send-message fixture with ``message_id``, as HTTP 202."""
        body = self.payload("send-response.json").replace(SENT.encode(), message_id.encode())
        return 202, {"Content-Type": "application/json"}, body

    def send_error(self, kind: str) -> Answer:
        """An invalid destination number (400), a server error (500), or rate limiting (429)."""
        if kind == "permanent":
            return 400, {"Content-Type": "application/json"}, self.payload("error-400-invalid-number.json")
        if kind == "retryable":
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        return 429, {"Content-Type": "text/plain", "Retry-After": "7"}, b"Too Many Requests"

    def _signed(self, body: bytes, key: str) -> WebhookRequest:
        nonce = str(secrets.randbelow(10**20))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Plivo-Signature-V3": plivo_v3_signature(key, URL, body, nonce),
            "X-Plivo-Signature-V3-Nonce": nonce,
        }
        return posted(URL, body, headers)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed with the account's auth token and a fresh nonce."""
        return self._signed(body, AUTH_TOKEN)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed with another auth token."""
        return self._signed(body, "someone-elses-auth-token")

    def replayed(self, body: bytes) -> None:
        """Plivo's nonce is not a time; repeated MessageUUIDs are ignored by the core."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The delivered callback with another Status and MessageUUID."""
        form = dict(parse_qsl(self.payload("status-delivered.form").decode(), keep_blank_values=True))
        form.update(MessageUUID=message_id, ParentMessageUUID=message_id, Status=carrier_status)
        return urlencode(form).encode()


CASE = PlivoCase()
