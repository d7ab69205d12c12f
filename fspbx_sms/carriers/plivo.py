"""Plivo Messaging API: send SMS/MMS, and read the form callbacks Plivo signs with its V3 signature.

Sending: https://www.plivo.com/docs/messaging/api/messages/ (the Message object and Send a Message)
Incoming messages: https://www.plivo.com/docs/messaging/api/message/handling-incoming
Status callbacks: https://www.plivo.com/docs/messaging/api/message/message-status-callbacks
Signatures: the SDKs' ``validate_v3_signature`` (plivo-python ``plivo/utils/signature_v3.py``): HMAC-SHA256
with the auth token over URL, sorted parameters and a nonce. Plivo's messaging signature page
(https://www.plivo.com/docs/messaging/concepts/signature-validation) documents message callbacks with the older
V2 headers only (``validate_signature``: HMAC-SHA256 over the URL without its query and the nonce), so a callback
without V3 headers is checked against V2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
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
from fspbx_sms.carriers.payload import check_send_limits, response_json

# -- the webhook payloads (form fields) ------------------------------------------------------------


class PlivoIncomingForm(TypedDict):
    """An incoming SMS/MMS posted to the application's ``message_url``."""

    MessageUUID: str
    From: str
    To: str
    Type: str
    #: SMS text; an MMS carries its text in ``Body``.
    Text: NotRequired[str]
    Body: NotRequired[str]
    MediaCount: NotRequired[str]
    # Media<N>: one URL per attachment.


class PlivoStatusForm(TypedDict):
    """A status callback posted to the ``url`` given when sending."""

    MessageUUID: str
    Status: str
    From: str
    To: str
    ErrorCode: NotRequired[str]


#: ``Status`` → ours, from the status-callback reference (``rejected`` from its legacy version; ``read`` is
#: WhatsApp's and implies delivery).
PLIVO_STATUSES: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "rejected": DeliveryStatus.FAILED,
}

#: The send-message reference: text up to 1,600 characters; an MMS takes up to 10 media files.
MAX_TEXT_CHARS = 1600
MAX_MEDIA = 10

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
#: Signed with the main account's token when the number belongs to a subaccount.
MAIN_SIGNATURE_HEADER = "X-Plivo-Signature-Ma-V3"
V2_SIGNATURE_HEADER = "X-Plivo-Signature-V2"
V2_MAIN_SIGNATURE_HEADER = "X-Plivo-Signature-Ma-V2"
V2_NONCE_HEADER = "X-Plivo-Signature-V2-Nonce"
AUTH_ID = re.compile(r"[MS]A[A-Z0-9]{18}")
MEDIA_FIELD = re.compile(r"Media(\d{1,3})")


class PlivoAdapter(CarrierAdapter):
    """Plivo: Basic auth with Auth ID and Auth Token; callbacks signed (V3) with the same Auth Token."""

    provider: ClassVar[str] = "plivo"
    display_name: ClassVar[str] = "Plivo"
    default_base_url: ClassVar[str] = "https://api.plivo.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("auth_id", required=True, secret=False, help="Auth ID (MA… or SA…) from the Plivo console"),
        CredentialField(
            "auth_token",
            required=True,
            secret=True,
            help="Auth Token from the Plivo console; it also signs Plivo's callbacks",
        ),
        CredentialField(
            "status_callback",
            required=False,
            secret=False,
            help="this account's webhook URL (as fspbx-sms prints it), sent as the message's url so Plivo reports "
            "delivery",
        ),
    )
    # Plivo reads the answer as Plivo XML: an empty <Response/> sends no reply.
    webhook_ack: ClassVar[tuple[str, bytes]] = ("text/xml", b'<?xml version="1.0" encoding="UTF-8"?><Response/>')
    webhook_auth: ClassVar[str] = (
        "X-Plivo-Signature-V3 with X-Plivo-Signature-V3-Nonce: HMAC-SHA256 with the auth token over the "
        "callback URL, the sorted form fields and the nonce, base64; the URL set on the application must be "
        "exactly the one fspbx-sms prints. Callbacks carrying only the older X-Plivo-Signature-V2 (URL and nonce, "
        "not the fields: Plivo's messaging default) are checked against that. No time is signed, so replays are "
        "stopped by ignoring repeated MessageUUIDs"
    )

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The Auth ID is ``MA``/``SA`` and 18 capitals or digits; the status callback is an http(s) URL."""
        if not AUTH_ID.fullmatch(credentials["auth_id"]):
            raise CarrierConfigError("auth_id", "auth_id must be the 20-character Auth ID (MA… or SA…)")
        check_http_url(credentials, "status_callback")
        return credentials

    def check_request(self) -> requests.Request:
        """The account details (``GET /v1/Account/{auth_id}/``)."""
        auth_id = self.credentials["auth_id"]
        return self.basic_auth_request("GET", f"/v1/Account/{auth_id}/", (auth_id, self.credentials["auth_token"]))

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /v1/Account/{auth_id}/Message/`` as JSON; ``type=mms`` with ``media_urls`` for an MMS."""
        check_send_limits(message, self.provider, max_text=MAX_TEXT_CHARS, max_media=MAX_MEDIA, needs_content=True)
        body: dict[str, Any] = {"src": message.from_number, "dst": message.to_numbers[0]}
        if message.text:
            # Plivo requires text for an SMS only; an MMS may be pictures alone.
            body["text"] = message.text
        if message.media_urls:
            body["type"] = "mms"
            body["media_urls"] = list(message.media_urls)
        if "status_callback" in self.credentials:
            body["url"] = self.credentials["status_callback"]
            body["method"] = "POST"
        auth_id = self.credentials["auth_id"]
        auth = (auth_id, self.credentials["auth_token"])
        return self.basic_auth_request("POST", f"/v1/Account/{auth_id}/Message/", auth, json=body)

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``message_uuid`` lists one id per destination; we send to one, so it is the first."""
        body = response_json(response)
        ids = body.get("message_uuid") if isinstance(body, dict) else None
        first = ids[0] if isinstance(ids, list) and ids else None
        if not isinstance(first, str) or not first:
            raise self.unusable_answer(response, "accepted the message but its answer has no message_uuid")
        return SendResult(first, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"api_id", "error"}``: Plivo gives no error code, only text (or a field → messages object)."""
        body = response_json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error = "; ".join(f"{field}: {detail}" for field, detail in error.items())
        return ErrorDetail(code=None, text=error if isinstance(error, str) and error else None)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """Check the V3 signature (any of a comma-separated list, one per active auth token) against the nonce;
        a callback with no V3 headers at all is checked against its V2 signature instead."""
        token = self.credentials["auth_token"]
        headers = request.headers
        if headers.get(SIGNATURE_HEADER) or headers.get(MAIN_SIGNATURE_HEADER) or not headers.get(V2_NONCE_HEADER):
            nonce = headers.get(NONCE_HEADER, "")
            signatures = ",".join(filter(None, (headers.get(SIGNATURE_HEADER), headers.get(MAIN_SIGNATURE_HEADER))))
            if not signatures or not nonce:
                raise WebhookAuthError(f"missing {SIGNATURE_HEADER} or {NONCE_HEADER} header", status_code=401)
            if not _any_match(compute_signature(token, request, nonce), signatures):
                raise WebhookAuthError(f"{SIGNATURE_HEADER} does not match the URL, fields and nonce")
            return
        signatures = ",".join(filter(None, (headers.get(V2_SIGNATURE_HEADER), headers.get(V2_MAIN_SIGNATURE_HEADER))))
        if not signatures:
            raise WebhookAuthError(f"missing {V2_SIGNATURE_HEADER} header", status_code=401)
        if not _any_match(compute_v2_signature(token, request.url, headers[V2_NONCE_HEADER]), signatures):
            raise WebhookAuthError(f"{V2_SIGNATURE_HEADER} does not match the URL and nonce")

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One event per callback: an incoming SMS/MMS or a status callback; anything else gives []."""
        event = plivo_event(_form(request.body))
        return [] if event is None else [event]


def compute_signature(auth_token: str, request: WebhookRequest, nonce: str) -> str:
    """Plivo's V3 signature of ``request``, as its SDKs compute it.

    The signed text is the URL without its query, then ``?`` and the query's parameters sorted as ``k=v``
    joined by ``&``; for a POST with form fields, a ``.`` (only after a non-empty query) and every field
    sorted as ``kv``; finally ``.`` and the nonce.
    """
    parts = urlsplit(request.url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = "&".join(f"{name}={value}" for name, value in sorted(parse_qsl(parts.query, keep_blank_values=True)))
    post = request.method.upper() == "POST"
    fields = parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True) if post else []
    if fields:
        signed = f"{base}?{query}" + ("." if query else "") + "".join(f"{k}{v}" for k, v in sorted(fields))
    else:
        signed = f"{base}?{query}" if query else base
    digest = hmac.new(auth_token.encode(), f"{signed}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def compute_v2_signature(auth_token: str, url: str, nonce: str) -> str:
    """Plivo's V2 signature: HMAC-SHA256 with the auth token over the URL without its query, then the nonce."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return base64.b64encode(hmac.new(auth_token.encode(), (base + nonce).encode(), hashlib.sha256).digest()).decode()


def _any_match(expected: str, signatures: str) -> bool:
    """True when one of the comma-separated signatures is ``expected`` (compared in constant time)."""
    return any(hmac.compare_digest(expected.encode(), given.strip().encode()) for given in signatures.split(","))


def plivo_event(form: PlivoIncomingForm | PlivoStatusForm | dict[str, str]) -> InboundMessage | StatusUpdate | None:
    """Our event for one Plivo callback form; None when it is neither a message nor a status callback.

    A status callback carries ``Status``; an incoming message carries ``Text`` (SMS) or ``Body`` (MMS).
    """
    if "Status" in form:
        error_code = form.get("ErrorCode") or None
        return StatusUpdate(
            carrier_message_id=_required(form, "MessageUUID"),
            status=_our_status(form["Status"]),
            # "000" is Plivo's code for a successful delivery.
            error_code=None if error_code in (None, "000") else error_code,
            error_text=None,
            occurred_at=None,
            raw=dict(form),
        )
    if "Text" not in form and "Body" not in form and "MediaCount" not in form:
        return None
    media = sorted((int(match[1]), url) for name, url in form.items() if (match := MEDIA_FIELD.fullmatch(name)))
    return InboundMessage(
        carrier_message_id=_required(form, "MessageUUID"),
        from_number=_required(form, "From"),
        to_numbers=(_required(form, "To"),),
        text=form.get("Text") or form.get("Body") or "",
        media=tuple(InboundMedia(url=url, content_type=None) for _, url in media if url),
        received_at=None,
        raw=dict(form),
    )


def _our_status(value: str) -> DeliveryStatus:
    return PLIVO_STATUSES.get(value, DeliveryStatus.UNKNOWN)


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as err:
        raise WebhookParseError("the body is not UTF-8 form data") from err
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise WebhookParseError(f"{name} is missing")
    return value
