"""SignalWire Compatibility (cXML/LaML) API: send SMS/MMS, and read the form webhooks signed with the Signing Key.

Sending, statuses and errors: the Compatibility API reference (OpenAPI ``CreateMessageRequest``,
``MessageResponse``, ``MessageStatus``, ``CompatibilityErrorResponse``), https://signalwire.com/docs/compatibility-api
Status callback: https://signalwire.com/docs/compatibility-api/rest/messages/webhooks/sms-status-callback
Signatures: https://developer.signalwire.com/guides/webhook-security (the Compatibility SDK's
``validateRequest``: Twilio's scheme, keyed with the project's Signing Key)

SignalWire's webhook forms and signature are those of Twilio's API; this module repeats that small part of
``twilio.py`` because carrier modules depend on nothing of ours but ``base``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, NotRequired, TypedDict
from urllib.parse import urlsplit

import requests

from fspbx_sms.carriers.base import (
    CarrierAdapter,
    CarrierConfigError,
    CarrierError,
    CredentialField,
    DeliveryStatus,
    ErrorDetail,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.payload import response_json

# SignalWire's compatibility API speaks Twilio's webhook protocol: same form posts, same signature scheme.
from fspbx_sms.carriers.twilio import form_of, signature_matches

# -- the webhook payload ---------------------------------------------------------------------------


class SignalWireMessageForm(TypedDict):
    """An inbound message or status callback (form fields; SignalWire may add more)."""

    MessageSid: str
    AccountSid: str
    From: str
    To: str
    Body: NotRequired[str]
    NumMedia: NotRequired[str]
    MessageStatus: NotRequired[str]
    SmsStatus: NotRequired[str]
    ErrorCode: NotRequired[str]
    # MediaUrl<N> and MediaContentType<N> follow NumMedia.


#: ``MessageStatus`` → ours: the API's eight message statuses (``receiving``/``received`` are inbound).
#: SignalWire marks ``delivered`` only on a carrier delivery receipt; MMS never gets one and stays ``sent``.
SIGNALWIRE_STATUSES: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
}
INBOUND_STATUSES = frozenset({"receiving", "received"})

#: Error codes SignalWire shares with Twilio's API where a retry can help (too many requests, internal
#: error, service unavailable); the rest of a 4xx is permanent.
RETRYABLE_ERROR_CODES = frozenset({"20429", "20500", "20503"})

#: The create-message reference: "Body … Up to 1600 characters long."
MAX_BODY_CHARS = 1600

SIGNATURE_HEADERS = ("X-SignalWire-Signature", "X-Twilio-Signature")
PROJECT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SPACE_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MEDIA_FIELDS_LIMIT = 100


class SignalWireAdapter(CarrierAdapter):
    """SignalWire: Basic auth with Project ID and API token on the Space URL; webhooks signed with the Signing Key."""

    provider: ClassVar[str] = "signalwire"
    display_name: ClassVar[str] = "SignalWire"
    #: Every Space has its own host; ``space_url`` names it.
    default_base_url: ClassVar[str] = "https://example.signalwire.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("project_id", required=True, secret=False, help="Project ID from the Space's API page"),
        CredentialField("api_token", required=True, secret=True, help="an API token with the Messaging scope (PT…)"),
        CredentialField("space_url", required=True, secret=False, help="the Space URL, e.g. example.signalwire.com"),
        CredentialField(
            "signing_key",
            required=True,
            secret=True,
            help="the Signing Key from the Space's API page (Show); SignalWire signs every webhook with it",
        ),
        CredentialField(
            "status_callback",
            required=False,
            secret=False,
            help="this account's webhook URL (as fspbx-sms prints it), sent as StatusCallback with every "
            "message so SignalWire reports delivery",
        ),
    )
    # SignalWire's compatibility API reads the answer as cXML, like Twilio's TwiML.
    webhook_ack: ClassVar[tuple[str, bytes]] = ("text/xml", b'<?xml version="1.0" encoding="UTF-8"?><Response/>')
    # 21610: Twilio's code for a recipient who texted STOP, kept by the compatibility API.
    opt_out_codes: ClassVar[frozenset[str]] = frozenset({"21610"})
    webhook_auth: ClassVar[str] = (
        "X-SignalWire-Signature (or X-Twilio-Signature): HMAC-SHA1 with the project's Signing Key over the "
        "webhook URL followed by the sorted form fields, base64; the URL set on the number must be exactly the "
        "one fspbx-sms prints. No time is signed, so replays are stopped by ignoring repeated MessageSids"
    )

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        webhook_secret: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
    ):
        super().__init__(credentials, webhook_secret=webhook_secret, timeout=timeout)
        if "base_url" not in self.credentials:
            self.base_url = f"https://{self.credentials['space_url']}"

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The Project ID is a UUID; the Space URL is a host name (``https://`` and a trailing ``/`` dropped)."""
        if not PROJECT_ID.fullmatch(credentials["project_id"]):
            raise CarrierConfigError("project_id", "project_id must be the Project ID, a UUID")
        space = credentials["space_url"].removeprefix("https://").rstrip("/")
        if not SPACE_HOST.fullmatch(space):
            raise CarrierConfigError("space_url", "space_url must be the Space's host, e.g. example.signalwire.com")
        callback = urlsplit(credentials.get("status_callback", "https://x"))
        if callback.scheme not in ("http", "https") or not callback.netloc:
            raise CarrierConfigError("status_callback", "status_callback must be an http:// or https:// URL")
        return {**credentials, "space_url": space}

    def check_request(self) -> requests.Request:
        """The project's account resource on the space (``GET /api/laml/2010-04-01/Accounts/{ProjectID}.json``)."""
        project = self.credentials["project_id"]
        return requests.Request(
            "GET",
            f"{self.base_url}/api/laml/2010-04-01/Accounts/{project}.json",
            auth=(project, self.credentials["api_token"]),
            headers={"Accept": "application/json"},
        )

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /api/laml/2010-04-01/Accounts/{ProjectID}/Messages.json``: To, From, Body, one MediaUrl each."""
        if len(message.to_numbers) != 1:
            count = len(message.to_numbers)
            raise CarrierError(f"sends to exactly one number per message, not {count}", carrier=self.provider)
        if len(message.text) > MAX_BODY_CHARS:
            raise CarrierError(
                f"text is {len(message.text)} characters; the limit is {MAX_BODY_CHARS}", carrier=self.provider
            )
        if not message.text and not message.media_urls:
            raise CarrierError("a message needs text or media", carrier=self.provider)
        fields = [("To", message.to_numbers[0]), ("From", message.from_number)]
        if message.text:
            fields.append(("Body", message.text))
        fields.extend(("MediaUrl", url) for url in message.media_urls)
        if "status_callback" in self.credentials:
            fields.append(("StatusCallback", self.credentials["status_callback"]))
        project = self.credentials["project_id"]
        return requests.Request(
            "POST",
            f"{self.base_url}/api/laml/2010-04-01/Accounts/{project}/Messages.json",
            data=fields,
            auth=(project, self.credentials["api_token"]),
            headers={"Accept": "application/json"},
        )

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``sid`` is the message id; ``status`` is normally ``queued``."""
        body = response_json(response)
        sid = body.get("sid") if isinstance(body, dict) else None
        if not isinstance(sid, str) or not sid:
            raise self.unusable_answer(response, "accepted the message but its answer has no sid")
        return SendResult(sid, _our_status(body.get("status")), body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"code", "message", "more_info", "status"}`` or ``{"errors": [{"code", "message"}]}``."""
        try:
            body = response.json()
        except ValueError:
            return ErrorDetail(code=None, text=None)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else body
        if not isinstance(first, dict):
            return ErrorDetail(code=None, text=None)
        code = first.get("code")
        code = str(code) if isinstance(code, int | str) and not isinstance(code, bool) and str(code) else None
        message = first.get("message")
        return ErrorDetail(
            code=code,
            text=message if isinstance(message, str) and message else None,
            retryable=True if code in RETRYABLE_ERROR_CODES else None,
        )

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """Check the signature header against the URL and form fields (SignalWire signs no time)."""
        signature = next((request.headers[name] for name in SIGNATURE_HEADERS if request.headers.get(name)), "")
        if not signature:
            raise WebhookAuthError("missing X-SignalWire-Signature header", status_code=401)
        if not signature_matches(self.credentials["signing_key"], request, signature):
            raise WebhookAuthError("X-SignalWire-Signature does not match the URL and form fields")

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One event per webhook: an inbound SMS/MMS or a status callback; anything else gives []."""
        event = signalwire_event(form_of(request))
        return [] if event is None else [event]


def signalwire_event(form: SignalWireMessageForm | dict[str, str]) -> InboundMessage | StatusUpdate | None:
    """Our event for one webhook form; None when it is neither a message nor a status callback."""
    status = form.get("MessageStatus")
    if status is not None and status not in INBOUND_STATUSES:
        error_code = form.get("ErrorCode") or None
        return StatusUpdate(
            carrier_message_id=_required(form, "MessageSid"),
            status=_our_status(status),
            error_code=None if error_code in (None, "0") else error_code,
            error_text=form.get("ErrorMessage") or None,
            occurred_at=None,
            raw=dict(form),
        )
    if status is None and form.get("SmsStatus", "received") not in INBOUND_STATUSES:
        return None
    if "Body" not in form and "NumMedia" not in form:
        return None
    count = form.get("NumMedia", "0") or "0"
    if not (count.isascii() and count.isdigit()) or int(count) > MEDIA_FIELDS_LIMIT:
        raise WebhookParseError("NumMedia is not a small number")
    media = tuple(
        InboundMedia(url=_required(form, f"MediaUrl{i}"), content_type=form.get(f"MediaContentType{i}") or None)
        for i in range(int(count))
    )
    return InboundMessage(
        carrier_message_id=_required(form, "MessageSid"),
        from_number=_required(form, "From"),
        to_numbers=(_required(form, "To"),),
        text=form.get("Body", ""),
        media=media,
        received_at=None,
        raw=dict(form),
    )


def _our_status(value: Any) -> DeliveryStatus:
    if not isinstance(value, str):
        return DeliveryStatus.UNKNOWN
    return SIGNALWIRE_STATUSES.get(value, DeliveryStatus.UNKNOWN)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise WebhookParseError(f"{name} is missing")
    return value
