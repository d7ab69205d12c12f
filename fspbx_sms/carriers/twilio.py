"""Twilio Programmable Messaging: send SMS/MMS, and read the form webhooks Twilio signs with the auth token.

Sending: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
Inbound webhook: https://www.twilio.com/docs/messaging/guides/webhook-request
Status callbacks: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
Signatures: https://www.twilio.com/docs/usage/webhooks/webhooks-security
Errors: https://www.twilio.com/docs/usage/twilios-response#error-response-format
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, ClassVar, NotRequired, TypedDict
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests

from fspbx_sms.carriers.base import (
    CarrierAdapter,
    CarrierConfigError,
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
    check_http_url,
)
from fspbx_sms.carriers.payload import check_send_limits, code_text, response_json

# -- the webhook payload ---------------------------------------------------------------------------
# Form fields (application/x-www-form-urlencoded); Twilio adds fields without notice, so all are optional
# here and unknown ones are kept in ``raw``.


class TwilioInboundForm(TypedDict):
    """An incoming message: https://www.twilio.com/docs/messaging/guides/webhook-request."""

    MessageSid: str
    AccountSid: str
    From: str
    To: str
    Body: str
    NumMedia: str
    SmsStatus: NotRequired[str]
    # MediaUrl0…MediaUrl9 and MediaContentType0…MediaContentType9 follow NumMedia.


class TwilioStatusForm(TypedDict):
    """A status callback: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status."""

    MessageSid: str
    MessageStatus: str
    AccountSid: str
    From: str
    To: str
    ErrorCode: NotRequired[str]
    ErrorMessage: NotRequired[str]


#: ``MessageStatus`` → ours, from the Message resource's status values. ``read`` (WhatsApp/RCS) implies delivery;
#: ``partially_delivered`` is a group/broadcast where some recipients failed.
TWILIO_STATUSES: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "partially_delivered": DeliveryStatus.UNDELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
#: Statuses of a message someone sent to us (inbound webhook), not of one we sent.
INBOUND_STATUSES = frozenset({"receiving", "received"})

#: Error codes where the same request can succeed later: 20429 too many requests, 20500 internal server
#: error, 20503 service unavailable. 21211 (invalid 'To'), 21610 (recipient replied STOP), 21614 ('To' is
#: not a mobile number) and the rest are permanent.
RETRYABLE_ERROR_CODES = frozenset({"20429", "20500", "20503"})

#: Documented limits: Body up to 1,600 characters, at most 10 MediaUrl per message (5 MB in total).
MAX_BODY_CHARS = 1600
MAX_MEDIA = 10

SIGNATURE_HEADER = "X-Twilio-Signature"
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
#: NumMedia above this is not something Twilio sends; it bounds the loop over MediaUrl<N>.
MEDIA_FIELDS_LIMIT = 100


class TwilioAdapter(CarrierAdapter):
    """Twilio: Basic auth with the Account SID and auth token; webhooks signed with the same auth token."""

    provider: ClassVar[str] = "twilio"
    display_name: ClassVar[str] = "Twilio"
    default_base_url: ClassVar[str] = "https://api.twilio.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("account_sid", required=True, secret=False, help="Account SID (AC…) from the Twilio Console"),
        CredentialField(
            "auth_token",
            required=True,
            secret=True,
            help="the account's Auth Token from the Twilio Console; it also signs Twilio's webhooks",
        ),
        CredentialField(
            "status_callback",
            required=False,
            secret=False,
            help="this account's webhook URL (as fspbx-sms prints it), sent as StatusCallback with every message "
            "so Twilio reports delivery; leave empty when the Messaging Service already has one",
        ),
    )
    # Twilio reads the answer as TwiML: an empty <Response/> means "do nothing more".
    webhook_ack: ClassVar[tuple[str, bytes]] = ("text/xml", b'<?xml version="1.0" encoding="UTF-8"?><Response/>')
    # 21610: attempt to send to an unsubscribed recipient (they texted STOP).
    opt_out_codes: ClassVar[frozenset[str]] = frozenset({"21610"})
    webhook_auth: ClassVar[str] = (
        "X-Twilio-Signature: HMAC-SHA1 with the auth token over the webhook URL followed by the sorted form "
        "fields, base64; the URL configured in Twilio must be exactly the one fspbx-sms prints. Twilio signs no "
        "time, so replays are stopped by ignoring repeated MessageSids"
    )

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The Account SID is ``AC`` and 32 hex digits; the status callback is an http(s) URL."""
        if not ACCOUNT_SID.fullmatch(credentials["account_sid"]):
            raise CarrierConfigError("account_sid", "account_sid must be 'AC' followed by 32 hex digits")
        check_http_url(credentials, "status_callback")
        return credentials

    def check_request(self) -> requests.Request:
        """The account resource (``GET /2010-04-01/Accounts/{AccountSid}.json``)."""
        account = self.credentials["account_sid"]
        auth = (account, self.credentials["auth_token"])
        return self.basic_auth_request("GET", f"/2010-04-01/Accounts/{account}.json", auth)

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` as a form; one ``MediaUrl`` per attachment."""
        fields = form_fields(self.provider, message, max_text=MAX_BODY_CHARS, max_media=MAX_MEDIA)
        if "status_callback" in self.credentials:
            fields.append(("StatusCallback", self.credentials["status_callback"]))
        account = self.credentials["account_sid"]
        auth = (account, self.credentials["auth_token"])
        return self.basic_auth_request("POST", f"/2010-04-01/Accounts/{account}/Messages.json", auth, data=fields)

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``sid`` is the message id; ``status`` is ``queued`` (``accepted`` through a Messaging Service)."""
        return message_resource(self, response)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"code", "message", "more_info", "status"}``; codes 20429/20500/20503 are retryable."""
        return rest_error(response, RETRYABLE_ERROR_CODES)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """Check ``X-Twilio-Signature`` against the URL and form fields (Twilio signs no time)."""
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise WebhookAuthError(f"missing {SIGNATURE_HEADER} header", status_code=401)
        if not signature_matches(self.credentials["auth_token"], request, signature):
            raise WebhookAuthError(f"{SIGNATURE_HEADER} does not match the URL and form fields")

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One event per webhook: an inbound SMS/MMS or a status callback; anything else gives []."""
        event = twilio_event(form_of(request))
        return [] if event is None else [event]


def form_fields(
    provider: str, message: OutboundMessage, *, max_text: int, max_media: int | None
) -> list[tuple[str, str]]:
    """``To``/``From``/``Body``/``MediaUrl`` form fields of the Twilio-compatible Messages API, limits checked."""
    check_send_limits(message, provider, max_text=max_text, max_media=max_media, needs_content=True)
    fields = [("To", message.to_numbers[0]), ("From", message.from_number)]
    if message.text:
        fields.append(("Body", message.text))
    fields.extend(("MediaUrl", url) for url in message.media_urls)
    return fields


def message_resource(
    adapter: CarrierAdapter, response: requests.Response, statuses: Mapping[str, DeliveryStatus] = TWILIO_STATUSES
) -> SendResult:
    """Our result from a Message resource answer (``sid``, ``status`` as ``statuses`` maps it)."""
    body = response_json(response)
    sid = body.get("sid") if isinstance(body, dict) else None
    if not isinstance(sid, str) or not sid:
        raise adapter.unusable_answer(response, "accepted the message but its answer has no sid")
    return SendResult(sid, our_status(body.get("status"), statuses), body)


def rest_error(response: requests.Response, retryable_codes: frozenset[str]) -> ErrorDetail:
    """The code and message of a Twilio-style REST error body; never raises."""
    body = response_json(response)
    if not isinstance(body, dict):
        return ErrorDetail(code=None, text=None)
    code = code_text(body.get("code"))
    message = body.get("message")
    text = message if isinstance(message, str) and message else None
    return ErrorDetail(code=code, text=text, retryable=True if code in retryable_codes else None)


def form_of(request: WebhookRequest) -> dict[str, str]:
    """The webhook's form fields (the first of repeated names); WebhookParseError unless UTF-8 form data."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WebhookParseError("the body is not UTF-8 form data") from err
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as err:
        raise WebhookParseError("the body is not form data") from err
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def signed_pairs(body: bytes) -> list[tuple[str, str]]:
    """Every form field of ``body`` as Twilio's signature sees it (bad UTF-8 replaced, so never raises)."""
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def compute_signature(key: str, url: str, pairs: list[tuple[str, str]]) -> str:
    """Twilio's signature: base64 HMAC-SHA1 over the URL then each name+value, sorted by name then value."""
    data = url + "".join(name + value for name, value in sorted(pairs))
    return base64.b64encode(hmac.new(key.encode(), data.encode("utf-8"), hashlib.sha1).digest()).decode()


def signature_matches(key: str, request: WebhookRequest, signature: str) -> bool:
    """Whether ``signature`` is the request's, for its URL as given, without its port, or with the default one.

    Twilio's SDKs try these variants because what Twilio signs depends on how the URL was configured.
    """
    pairs = signed_pairs(request.body) if request.method.upper() == "POST" else []
    given = signature.encode()
    return any(
        hmac.compare_digest(given, compute_signature(key, url, pairs).encode()) for url in url_variants(request.url)
    )


def url_variants(url: str) -> list[str]:
    """``url`` as given, without an explicit port, and with the scheme's default port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.hostname or ""
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default_port = 443 if parts.scheme == "https" else 80
    without = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port or default_port}"))
    return list(dict.fromkeys([url, without, with_port]))


def twilio_event(
    form: TwilioInboundForm | TwilioStatusForm | dict[str, str],
    statuses: Mapping[str, DeliveryStatus] = TWILIO_STATUSES,
) -> InboundMessage | StatusUpdate | None:
    """Our event for one Twilio(-compatible) webhook form; None when it is neither a message nor a status.

    ``statuses`` maps the carrier's statuses (SignalWire has its own). Raises :class:`WebhookParseError` when a
    field we need is missing.
    """
    status = form.get("MessageStatus")
    if status is not None and status not in INBOUND_STATUSES:
        error_code = form.get("ErrorCode") or None
        return StatusUpdate(
            carrier_message_id=_required(form, "MessageSid"),
            status=our_status(status, statuses),
            # Twilio sends ErrorCode=0 or nothing when there is no error.
            error_code=None if error_code in (None, "0") else error_code,
            error_text=form.get("ErrorMessage") or None,
            occurred_at=None,
            raw=dict(form),
        )
    if status is None and form.get("SmsStatus", "received") not in INBOUND_STATUSES:
        return None
    if "Body" not in form and "NumMedia" not in form:
        return None
    return InboundMessage(
        carrier_message_id=_required(form, "MessageSid"),
        from_number=_required(form, "From"),
        to_numbers=(_required(form, "To"),),
        text=form.get("Body", ""),
        media=_media(form),
        received_at=None,
        raw=dict(form),
    )


def our_status(value: Any, statuses: Mapping[str, DeliveryStatus] = TWILIO_STATUSES) -> DeliveryStatus:
    """Our status for a Twilio ``MessageStatus`` (by ``statuses``); ``unknown`` for anything else."""
    return statuses.get(value, DeliveryStatus.UNKNOWN) if isinstance(value, str) else DeliveryStatus.UNKNOWN


def _media(form: dict[str, str]) -> tuple[InboundMedia, ...]:
    count = form.get("NumMedia", "0") or "0"
    if not (count.isascii() and count.isdigit()) or int(count) > MEDIA_FIELDS_LIMIT:
        raise WebhookParseError("NumMedia is not a small number")
    return tuple(
        InboundMedia(url=_required(form, f"MediaUrl{index}"), content_type=form.get(f"MediaContentType{index}") or None)
        for index in range(int(count))
    )


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise WebhookParseError(f"{name} is missing")
    return value
