"""Twilio for the contract suite: Basic auth form posts, form webhooks signed with ``X-Twilio-Signature``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request

from fspbx_sms.carriers import DeliveryStatus, OutboundMessage, WebhookRequest
from fspbx_sms.carriers.twilio import TwilioAdapter
from tests.carrier_cases import Answer, CarrierCase, Inbound, Status, basic, posted

URL = "https://sms.example.com/webhooks/twilio/1"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-contract-0001"
MEDIA = "https://api.twilio.com/2010-04-01/Accounts/" + "AC" + "b" * 32 + "/Messages/" + "MM" + "a" * 32 + "/Media/"
SENT = "SM1342fe1b2c904d1ab04f0fc7a58abca9"
DELIVERED = "SM" + "X" * 30
UNDELIVERED_OR_FAILED = "SM" + "3" * 32


def twilio_signature(key: str, url: str, body: bytes) -> str:
    """X-Twilio-Signature as Twilio's SDKs (and SignalWire's Compatibility SDK) compute it: URL, then each
    name+value with names (then values) sorted; HMAC-SHA1, base64."""
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    data = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


def signed_form(url: str, header: str, key: str, body: bytes) -> WebhookRequest:
    """``body`` posted as a form to ``url``, with its Twilio-style signature by ``key`` in ``header``."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", header: twilio_signature(key, url, body)}
    return posted(url, body, headers)


def check_form_send(request: Request, message: OutboundMessage, username: str, password: str) -> None:
    """Assert that ``request`` sends ``message`` as a Twilio-style Messages form with HTTP Basic auth: To, From,
    Body and one MediaUrl per attachment."""
    assert request.headers["Authorization"] == basic(username, password)
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form["To"] == message.to_numbers[0]
    assert request.form["From"] == message.from_number
    assert request.form.get("Body", "") == message.text
    assert tuple(request.form.getlist("MediaUrl")) == message.media_urls


def status_form(delivered: bytes, carrier_status: str, message_id: str) -> bytes:
    """The Twilio-style status callback form ``delivered`` with another MessageStatus and MessageSid."""
    form = dict(parse_qsl(delivered.decode(), keep_blank_values=True))
    form.update(MessageSid=message_id, SmsSid=message_id, MessageStatus=carrier_status, SmsStatus=carrier_status)
    return urlencode(form).encode()


class TwilioCase(CarrierCase):
    """Twilio Programmable Messaging."""

    provider = "twilio"
    adapter_class = TwilioAdapter
    send_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    permanent_error_code = "21201"
    fixtures = (
        ("inbound-sms.form", (Inbound("SM" + "a" * 32, "+15017122661", ("+15558675310",), "Ahoy"),)),
        ("inbound-mms.form",
         (Inbound("MM" + "a" * 32, "+15017122661", ("+15558675310",), "This is MMS type sample",
                  (MEDIA + "ME" + "a" * 32,)),)),
        ("status-sent.form", (Status(SENT, DeliveryStatus.SENT),)),
        ("status-delivered.form", (Status(DELIVERED, DeliveryStatus.DELIVERED),)),
        ("status-undelivered-30003.form", (Status(UNDELIVERED_OR_FAILED, DeliveryStatus.UNDELIVERED, "30003"),)),
        ("status-failed-30034.form", (Status(UNDELIVERED_OR_FAILED, DeliveryStatus.FAILED, "30034"),)),
    )

    def account_credentials(self) -> dict[str, str]:
        """Account SID and auth token."""
        return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}

    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Basic auth, a form with To/From/Body and one MediaUrl per attachment."""
        check_form_send(request, message, ACCOUNT_SID, AUTH_TOKEN)

    def send_ok(self, message_id: str) -> Answer:
        """The SDK's documented 201 Message resource, with ``message_id`` as its sid."""
        body = self.payload("send-response.json").replace(b"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", message_id.encode())
        return 201, {"Content-Type": "application/json"}, body

    def send_error(self, kind: str) -> Answer:
        """No 'To' number (21201), an internal error (20500), or too many requests (20429)."""
        name, status, headers = {
            "permanent": ("error-400-21201-no-to-number.json", 400, {}),
            "retryable": ("error-500-20500-internal.json", 500, {}),
            "rate_limited": ("error-429-20429-too-many-requests.json", 429, {"Retry-After": "7"}),
        }[kind]
        return status, {"Content-Type": "application/json", **headers}, self.payload(name)

    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """Signed with the account's auth token."""
        return signed_form(URL, "X-Twilio-Signature", AUTH_TOKEN, body)

    def forged(self, body: bytes) -> WebhookRequest:
        """Signed with another auth token."""
        return signed_form(URL, "X-Twilio-Signature", "someone-elses-auth-token", body)

    def replayed(self, body: bytes) -> None:
        """Twilio signs no time."""
        return None

    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """The delivered status callback with another MessageStatus and MessageSid."""
        return status_form(self.payload("status-delivered.form"), carrier_status, message_id)


CASE = TwilioCase()
