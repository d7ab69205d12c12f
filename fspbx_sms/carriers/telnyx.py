"""Telnyx Messaging API v2: send SMS/MMS, and read the ``message.*`` webhooks Telnyx signs with Ed25519.

Sending: https://developers.telnyx.com/docs/messaging/messages/send-message
Webhooks: https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks
Errors: https://developers.telnyx.com/development/api-fundamentals/api-errors and
https://developers.telnyx.com/api/errors/<code>
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NotRequired, TypedDict

import requests
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

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
)
from fspbx_sms.carriers.payload import (
    check_send_limits,
    code_text,
    json_object,
    parse_timestamp,
    require_list,
    require_object,
    require_string,
    response_json,
)

# -- the webhook payload ---------------------------------------------------------------------------
# https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks ("Payload structure")


class TelnyxAddress(TypedDict):
    """A ``from`` / ``to[]`` / ``cc[]`` entry; ``status`` is per recipient."""

    phone_number: str
    carrier: NotRequired[str]
    line_type: NotRequired[str]
    status: NotRequired[str]


class TelnyxMedia(TypedDict):
    """One ``media[]`` entry of an MMS; links expire after 30 days."""

    url: str
    content_type: str | None
    sha256: NotRequired[str | None]
    size: NotRequired[int | None]


class TelnyxError(TypedDict):
    """One ``errors[]`` entry, in webhooks and in API error responses."""

    code: str
    title: str
    detail: NotRequired[str]


# ``from`` is a Python keyword, hence the functional form.
TelnyxMessagePayload = TypedDict(
    "TelnyxMessagePayload",
    {
        "id": str,
        "record_type": Literal["message"],
        "direction": Literal["inbound", "outbound"],
        "type": str,
        "from": TelnyxAddress,
        "to": list[TelnyxAddress],
        "cc": NotRequired[list[TelnyxAddress]],
        "text": str | None,
        "media": NotRequired[list[TelnyxMedia]],
        "errors": NotRequired[list[TelnyxError]],
        "received_at": NotRequired[str | None],
        "sent_at": NotRequired[str | None],
        "completed_at": NotRequired[str | None],
    },
)


class TelnyxEventData(TypedDict):
    """``data``: the event envelope."""

    event_type: str
    id: str
    occurred_at: str
    payload: TelnyxMessagePayload
    record_type: Literal["event"]


class TelnyxWebhook(TypedDict):
    """A whole webhook body."""

    data: TelnyxEventData
    meta: NotRequired[dict[str, Any]]


#: An inbound SMS or MMS.
INBOUND_EVENT = "message.received"
#: Delivery reports for messages we sent: accepted by the next carrier, then a final state.
STATUS_EVENTS = frozenset({"message.sent", "message.finalized"})

#: ``to[].status`` → ours. From the receiving-webhooks guide; ``expired`` from the v2 error-code guide.
TELNYX_STATUSES: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "sending_failed": DeliveryStatus.FAILED,
    "delivery_failed": DeliveryStatus.UNDELIVERED,
    # Terminal, but the carrier never confirmed delivery: all we know is that it was sent.
    "delivery_unconfirmed": DeliveryStatus.SENT,
    "expired": DeliveryStatus.UNDELIVERED,
}

#: Error codes where the same request can succeed later, whatever the HTTP status: unexpected error,
#: request timeout, too many requests, message queue full. Everything else in a 4xx is permanent, e.g.
#: 40300 (recipient sent STOP; HTTP 409), 40310 (invalid 'to' address; HTTP 400), 10002 (invalid number).
RETRYABLE_ERROR_CODES = frozenset({"10007", "10008", "10011", "40318"})

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
#: Telnyx's SDKs refuse webhooks signed more than five minutes before or after now.
TIMESTAMP_TOLERANCE = 300


#: Telnyx group MMS: at most 8 recipients besides the sender.
MAX_GROUP_RECIPIENTS = 8


class TelnyxAdapter(CarrierAdapter):
    """Telnyx: bearer-token API key for sending, the account's Ed25519 public key for webhooks."""

    provider: ClassVar[str] = "telnyx"
    display_name: ClassVar[str] = "Telnyx"
    default_base_url: ClassVar[str] = "https://api.telnyx.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("api_key", required=True, secret=True, help="API key from Mission Control, Keys"),
        CredentialField(
            "public_key",
            required=True,
            secret=False,
            help="the base64 Ed25519 public key from Mission Control (Keys & Credentials, Public Key)",
        ),
        CredentialField(
            "messaging_profile_id",
            required=False,
            secret=False,
            help="messaging profile to send with; not needed when the number is on a profile",
        ),
    )
    # 40300: blocked because the recipient texted STOP.
    opt_out_codes: ClassVar[frozenset[str]] = frozenset({"40300"})
    webhook_auth: ClassVar[str] = (
        "Ed25519 signature (telnyx-signature-ed25519 over 'telnyx-timestamp|raw body') checked with the "
        "account's public key; requests signed more than 300 s from now are refused"
    )

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        webhook_secret: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
    ):
        super().__init__(credentials, webhook_secret=webhook_secret, timeout=timeout)
        self._verify_key = VerifyKey(base64.b64decode(self.credentials["public_key"]))

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The public key must be 32 bytes of base64, as Mission Control shows it."""
        try:
            key = base64.b64decode(credentials["public_key"], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise CarrierConfigError(
                "public_key", "public_key must be the base64 Ed25519 public key from Mission Control"
            )
        return credentials

    def check_request(self) -> requests.Request:
        """The account balance (``GET /v2/balance``), readable by any valid API key."""
        return requests.Request(
            "GET",
            f"{self.base_url}/v2/balance",
            headers={"Authorization": f"Bearer {self.credentials['api_key']}", "Accept": "application/json"},
        )

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /v2/messages`` to one number (``media_urls`` makes it an MMS); several numbers are a group MMS,
        ``POST /v2/messages/group_mms`` with ``to`` as a list (at most 8 recipients, US/Canada)."""
        check_send_limits(message, self.provider, max_recipients=MAX_GROUP_RECIPIENTS)
        group = len(message.to_numbers) > 1
        body: dict[str, Any] = {
            "from": message.from_number,
            "to": list(message.to_numbers) if group else message.to_numbers[0],
        }
        if message.text:
            body["text"] = message.text
        if message.media_urls:
            body["media_urls"] = list(message.media_urls)
        if "messaging_profile_id" in self.credentials:
            body["messaging_profile_id"] = self.credentials["messaging_profile_id"]
        return requests.Request(
            "POST",
            f"{self.base_url}/v2/messages/group_mms" if group else f"{self.base_url}/v2/messages",
            json=body,
            headers={"Authorization": f"Bearer {self.credentials['api_key']}", "Accept": "application/json"},
        )

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``data.id`` is the message id; ``data.to[0].status`` is normally ``queued``."""
        body = response_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        message_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise self.unusable_answer(response, "accepted the message but its answer has no data.id")
        recipients = data.get("to")
        first = recipients[0] if isinstance(recipients, list) and recipients else None
        status = first.get("status") if isinstance(first, dict) else None
        return SendResult(message_id, _our_status(status), body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """The first of ``{"errors": [{"code", "title", "detail", "meta"}]}``; ``meta.retryable`` wins."""
        body = response_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if not isinstance(first, dict):
            return ErrorDetail(code=None, text=None)
        code = code_text(first.get("code"))
        meta = first.get("meta")
        flag = meta.get("retryable") if isinstance(meta, dict) else None
        if isinstance(flag, bool):
            retryable: bool | None = flag
        else:
            retryable = True if code in RETRYABLE_ERROR_CODES else None
        return ErrorDetail(code=code, text=_error_text(first), retryable=retryable)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """Check the Ed25519 signature over ``timestamp|body`` and that the timestamp is recent."""
        verify_signature(self._verify_key, request, now=time.time() if now is None else now)

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One event per webhook; ``message.*`` events we do not handle, and other products', give []."""
        event = telnyx_event(json_object(request.body))
        return [] if event is None else [event]


def verify_signature(key: VerifyKey, request: WebhookRequest, *, now: float) -> None:
    """Raise :class:`WebhookAuthError` unless ``request`` has Telnyx's signature from within 300 s of now.

    Only public values are involved (public key, signature, body), so nothing here is timing-sensitive;
    libsodium's verification is constant-time anyway.
    """
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise WebhookAuthError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header", status_code=401)
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise WebhookAuthError(f"{TIMESTAMP_HEADER} is not Unix seconds", status_code=403)
    age = int(now) - int(timestamp)
    if abs(age) > TIMESTAMP_TOLERANCE:
        raise WebhookAuthError(
            f"signed {age} s from now, outside ±{TIMESTAMP_TOLERANCE} s (replayed, or clock skew)",
            status_code=403,
        )
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raw_signature = b""
    if len(raw_signature) != 64:
        raise WebhookAuthError(f"{SIGNATURE_HEADER} is not a base64 Ed25519 signature", status_code=403)
    try:
        key.verify(timestamp.encode("ascii") + b"|" + request.body, raw_signature)
    except BadSignatureError as err:
        raise WebhookAuthError("signature does not match the body and timestamp", status_code=403) from err


def telnyx_event(webhook: TelnyxWebhook | dict[str, Any]) -> InboundMessage | StatusUpdate | None:
    """Our event for one Telnyx webhook body; None for event types we do not handle.

    Raises :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    data = require_object(webhook.get("data"), "data")
    event_type = require_string(data.get("event_type"), "data.event_type")
    if event_type != INBOUND_EVENT and event_type not in STATUS_EVENTS:
        return None
    payload = require_object(data.get("payload"), "data.payload")
    message_id = require_string(payload.get("id"), "payload.id")
    recipients = require_list(payload.get("to"), "payload.to")
    if not recipients:
        raise WebhookParseError("payload.to is empty")
    occurred_at = parse_timestamp(data.get("occurred_at"))
    if event_type in STATUS_EVENTS:
        first = require_object(recipients[0], "payload.to[0]")
        errors = require_list(payload.get("errors") or [], "payload.errors")
        error = errors[0] if errors and isinstance(errors[0], dict) else {}
        return StatusUpdate(
            carrier_message_id=message_id,
            status=_our_status(first.get("status")),
            error_code=code_text(error.get("code")),
            error_text=_error_text(error),
            occurred_at=occurred_at,
            raw=dict(webhook),
        )
    sender = require_string(require_object(payload.get("from"), "payload.from").get("phone_number"), "payload.from")
    to_numbers: list[str] = []
    others = require_list(payload.get("cc") or [], "payload.cc")
    for index, entry in enumerate([*recipients, *others]):
        number = require_string(require_object(entry, f"payload.to/cc[{index}]").get("phone_number"), "phone_number")
        # Group MMS lists every participant in cc; keep each once, and not the sender.
        if number != sender and number not in to_numbers:
            to_numbers.append(number)
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        raise WebhookParseError("payload.text is not a string")
    return InboundMessage(
        carrier_message_id=message_id,
        from_number=sender,
        to_numbers=tuple(to_numbers),
        text=text or "",
        media=tuple(_media(item) for item in require_list(payload.get("media") or [], "payload.media")),
        received_at=parse_timestamp(payload.get("received_at")) or occurred_at,
        raw=dict(webhook),
    )


def _our_status(value: object) -> DeliveryStatus:
    if not isinstance(value, str):
        return DeliveryStatus.UNKNOWN
    return TELNYX_STATUSES.get(value, DeliveryStatus.UNKNOWN)


def _media(item: object) -> InboundMedia:
    entry = require_object(item, "payload.media[]")
    content_type = entry.get("content_type")
    return InboundMedia(
        url=require_string(entry.get("url"), "payload.media[].url"),
        content_type=content_type if isinstance(content_type, str) and content_type else None,
    )


def _error_text(error: Mapping[str, Any]) -> str | None:
    parts = [part for part in (error.get("title"), error.get("detail")) if isinstance(part, str) and part]
    return ": ".join(parts) or None
