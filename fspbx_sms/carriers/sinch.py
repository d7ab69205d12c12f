"""Sinch SMS REST API (XMS): send SMS/MMS batches, and read its callbacks, signed with HMAC.

Sending: https://developers.sinch.com/docs/sms/api-reference/sms/batches (``POST /xms/v1/{service_plan_id}/batches``)
Callbacks: https://developers.sinch.com/docs/sms/api-reference/sms/inbounds and …/delivery-reports
Signing: callbacks carry ``x-sinch-webhook-signature`` = base64(HMAC(secret, body.nonce.timestamp)) with the
``-nonce``, ``-timestamp`` and ``-algorithm`` headers (the same scheme as the Conversation API; Sinch
enables it for SMS accounts on request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar, Literal, NotRequired, TypedDict

import requests

from fspbx_sms.carriers.base import (
    RESPONSE_TEXT_LIMIT,
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
from fspbx_sms.carriers.payload import (
    check_send_limits,
    json_object,
    parse_timestamp,
    require_list,
    require_object,
    require_string,
    response_json,
)

# -- the callback payloads ---------------------------------------------------------------------------

# ``from`` is a Python keyword, hence the functional form.
SinchInbound = TypedDict(
    "SinchInbound",
    {
        "type": Literal["mo_text", "mo_binary", "mo_media"],
        "id": str,
        "from": str,
        "to": str,
        # A string for mo_text; {"subject", "message", "media": [{"url", "content_type", "status", "code"}]}
        # for mo_media.
        "body": str | dict[str, Any],
        "received_at": str,
        "sent_at": NotRequired[str],
        "operator_id": NotRequired[str],
        "client_reference": NotRequired[str],
    },
)


class SinchRecipientDeliveryReport(TypedDict):
    """``recipient_delivery_report_sms`` / ``_mms``: one recipient of one batch."""

    type: Literal["recipient_delivery_report_sms", "recipient_delivery_report_mms"]
    batch_id: str
    recipient: str
    code: int
    status: str
    at: str
    operator_status_at: NotRequired[str]
    client_reference: NotRequired[str]


INBOUND_TYPES = frozenset({"mo_text", "mo_media"})
STATUS_TYPES = frozenset({"recipient_delivery_report_sms", "recipient_delivery_report_mms"})

#: Delivery report ``status`` (compared lower-case) → ours, from "Delivery Report Statuses" in Sinch's
#: delivery reports page; ``cancelled`` and ``deleted`` are in Sinch's SDKs' status enums.
SINCH_STATUSES: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "dispatched": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    # "aborted before reaching the SMSC", "expired before delivery to the SMSC": never left Sinch.
    "aborted": DeliveryStatus.FAILED,
    "expired": DeliveryStatus.FAILED,
    "cancelled": DeliveryStatus.FAILED,
    "deleted": DeliveryStatus.FAILED,
    "rejected": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
    # "delivered to the SMSC but no Delivery Receipt has been received": sent, never confirmed.
    "unknown": DeliveryStatus.SENT,
}

#: The REST API's own delivery report codes ("Delivery Report Error Codes"; 413 from its SDKs). Others are
#: the operator's SMPP codes, kept as the code without a text. 0, 400 and 401 are progress, not errors.
SINCH_ERROR_CODES: dict[int, str] = {
    402: "Message unroutable",
    403: "Internal error",
    404: "Temporary delivery failure",
    405: "Unmatched Parameter",
    406: "Internal Expiry",
    407: "Canceled",
    408: "Internal Reject",
    410: "Unmatched default originator",
    411: "Exceeded parts limit",
    412: "Unprovisioned region",
    413: "Blocked",
}

#: Regional API roots; the service plan lives in one region.
REGIONS: dict[str, str] = {
    "us": "https://us.sms.api.sinch.com",
    "eu": "https://eu.sms.api.sinch.com",
    "au": "https://au.sms.api.sinch.com",
    "br": "https://br.sms.api.sinch.com",
    "ca": "https://ca.sms.api.sinch.com",
}

#: ``to``: "1 to 1000 recipients" per batch.
MAX_RECIPIENTS = 1000
#: ``body``: "max 2000 characters" for a text batch.
MAX_TEXT_LENGTH = 2000

#: HMAC algorithms Sinch names in ``x-sinch-webhook-signature-algorithm``; HmacSHA256 when absent.
ALGORITHMS = {"HmacSHA256": hashlib.sha256, "HmacSHA384": hashlib.sha384, "HmacSHA512": hashlib.sha512}
SIGNATURE_HEADER = "x-sinch-webhook-signature"
TIMESTAMP_HEADER = "x-sinch-webhook-signature-timestamp"
NONCE_HEADER = "x-sinch-webhook-signature-nonce"
ALGORITHM_HEADER = "x-sinch-webhook-signature-algorithm"
#: Signed more than five minutes before or after now: refused as a replay.
TIMESTAMP_TOLERANCE = 300


class SinchAdapter(CarrierAdapter):
    """Sinch: service plan ID and API token for sending, the callback signing secret for webhooks."""

    provider: ClassVar[str] = "sinch"
    display_name: ClassVar[str] = "Sinch"
    default_base_url: ClassVar[str] = REGIONS["us"]
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            "service_plan_id", required=True, secret=False, help="service plan ID (SMS, Service APIs, REST)"
        ),
        CredentialField("api_token", required=True, secret=True, help="the service plan's API token"),
        CredentialField(
            "webhook_secret",
            required=True,
            secret=True,
            help="callback signing secret (Sinch enables HMAC-signed SMS callbacks on request)",
        ),
        CredentialField(
            "region", required=False, secret=False, help="the service plan's region: us (default), eu, au, br or ca"
        ),
    )
    webhook_auth: ClassVar[str] = (
        "HMAC signature (x-sinch-webhook-signature over 'body.nonce.timestamp', HmacSHA256/384/512 as named by "
        "x-sinch-webhook-signature-algorithm) with the account's callback secret; signed more than 300 s from "
        "now is refused"
    )

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The region must be one Sinch runs the SMS API in."""
        region = credentials.get("region", "us").lower()
        if region not in REGIONS:
            raise CarrierConfigError("region", f"region must be one of {', '.join(REGIONS)}")
        return {**credentials, "region": region} if "region" in credentials else credentials

    def account_base_url(self) -> str:
        """The root of the service plan's region."""
        return REGIONS[self.credentials.get("region", "us")]

    def check_request(self) -> requests.Request:
        """The service plan's batches, one per page (``GET /xms/v1/{service_plan_id}/batches``)."""
        return requests.Request(
            "GET",
            f"{self.base_url}/xms/v1/{self.credentials['service_plan_id']}/batches",
            params={"page_size": "1"},
            headers={"Authorization": f"Bearer {self.credentials['api_token']}", "Accept": "application/json"},
        )

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /xms/v1/{service_plan_id}/batches``: ``mt_text``, or ``mt_media`` when there is media.

        An ``mt_media`` batch carries one attachment (``body.url``); further media URLs are added to the
        message text as links rather than refused, so nothing the sender attached is lost.
        """
        body: dict[str, Any] = {
            "from": message.from_number,
            "to": list(message.to_numbers),
            "delivery_report": "per_recipient",
        }
        if message.media_urls:
            first, *others = message.media_urls
            text = "\n".join(part for part in (message.text, *others) if part)
            body |= {"type": "mt_media", "body": {"url": first, **({"message": text} if text else {})}}
        else:
            text = message.text
            body |= {"type": "mt_text", "body": text}
        check_limits(message, text, carrier=self.provider)
        if message.reference:
            body["client_reference"] = message.reference
        return requests.Request(
            "POST",
            f"{self.base_url}/xms/v1/{self.credentials['service_plan_id']}/batches",
            json=body,
            headers={"Authorization": f"Bearer {self.credentials['api_token']}", "Accept": "application/json"},
        )

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``201 Created`` with the batch; its ``id`` is the ``batch_id`` of the delivery reports."""
        body = response_json(response)
        batch_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise self.unusable_answer(response, "accepted the batch but its answer has no id")
        if body.get("canceled") is True:
            raise CarrierError(
                f"batch {batch_id} was created cancelled",
                carrier=self.provider,
                status_code=response.status_code,
                response_text=response.text[:RESPONSE_TEXT_LIMIT],
            )
        return SendResult(batch_id, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"code": "syntax_invalid_parameter_format", "text": "…"}``; the HTTP status decides retry."""
        body = response_json(response)
        if not isinstance(body, dict):
            return ErrorDetail(code=None, text=None)
        code, text = body.get("code"), body.get("text")
        return ErrorDetail(
            code=code if isinstance(code, str) and code else None,
            text=text if isinstance(text, str) and text else None,
        )

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """Check the HMAC over ``body.nonce.timestamp`` and that the timestamp is recent."""
        verify_signature(self.credentials["webhook_secret"].encode(), request, now=time.time() if now is None else now)

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One event per callback; batch summaries, binary SMS and other products' events give []."""
        event = sinch_event(json_object(request.body))
        return [] if event is None else [event]


def check_limits(message: OutboundMessage, text: str, *, carrier: str) -> None:
    """Raise a permanent :class:`CarrierError` for a batch Sinch documents it refuses."""
    check_send_limits(message, carrier, max_recipients=MAX_RECIPIENTS, per="batch")
    if len(text) > MAX_TEXT_LENGTH:
        raise CarrierError(f"text (with any extra media links) is over {MAX_TEXT_LENGTH} characters", carrier=carrier)


def signature(secret: bytes, body: bytes, nonce: str, timestamp: str, algorithm: str = "HmacSHA256") -> str:
    """Sinch's callback signature: base64(HMAC(secret, body + "." + nonce + "." + timestamp))."""
    signed = body + b"." + nonce.encode() + b"." + timestamp.encode()
    return base64.b64encode(hmac.new(secret, signed, ALGORITHMS[algorithm]).digest()).decode()


def verify_signature(secret: bytes, request: WebhookRequest, *, now: float) -> None:
    """Raise :class:`WebhookAuthError` unless ``request`` carries Sinch's signature from within 300 s of now."""
    given = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    nonce = request.headers.get(NONCE_HEADER, "")
    if not given or not timestamp or not nonce:
        raise WebhookAuthError(
            f"missing {SIGNATURE_HEADER}, {TIMESTAMP_HEADER} or {NONCE_HEADER} header", status_code=401
        )
    algorithm = request.headers.get(ALGORITHM_HEADER, "HmacSHA256")
    if algorithm not in ALGORITHMS:
        raise WebhookAuthError(f"{ALGORITHM_HEADER} {algorithm!r} is not one Sinch uses", status_code=403)
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise WebhookAuthError(f"{TIMESTAMP_HEADER} is not Unix seconds", status_code=403)
    age = int(now) - int(timestamp)
    if abs(age) > TIMESTAMP_TOLERANCE:
        raise WebhookAuthError(
            f"signed {age} s from now, outside ±{TIMESTAMP_TOLERANCE} s (replayed, or clock skew)", status_code=403
        )
    expected = signature(secret, request.body, nonce, timestamp, algorithm)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookAuthError("signature does not match the body, nonce and timestamp", status_code=403)


def sinch_event(
    callback: SinchInbound | SinchRecipientDeliveryReport | dict[str, Any],
) -> InboundMessage | StatusUpdate | None:
    """Our event for one Sinch SMS callback; None for callback types we do not handle.

    Raises :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    kind = callback.get("type")
    if kind in STATUS_TYPES:
        return _status_update(callback)
    if kind not in INBOUND_TYPES:
        return None
    message_id = require_string(callback.get("id"), "id")
    sender = require_string(callback.get("from"), "from")
    recipient = require_string(callback.get("to"), "to")
    body = callback.get("body")
    media: list[InboundMedia] = []
    if kind == "mo_text":
        if not isinstance(body, str):
            raise WebhookParseError("body of an mo_text is not a string")
        text = body
    else:
        content = require_object(body, "body")
        text = content.get("message") or ""
        if not isinstance(text, str):
            raise WebhookParseError("body.message is not a string")
        media = [_media(item) for item in require_list(content.get("media") or [], "body.media")]
    return InboundMessage(
        carrier_message_id=message_id,
        from_number=sender,
        to_numbers=(recipient,),
        text=text,
        media=tuple(media),
        received_at=parse_timestamp(callback.get("received_at")),
        raw=dict(callback),
    )


def _status_update(report: SinchRecipientDeliveryReport | dict[str, Any]) -> StatusUpdate:
    status = report.get("status")
    ours = DeliveryStatus.UNKNOWN
    if isinstance(status, str):
        ours = SINCH_STATUSES.get(status.lower(), DeliveryStatus.UNKNOWN)
    code = report.get("code")
    is_error = ours in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.UNKNOWN)
    has_code = isinstance(code, int) and not isinstance(code, bool)
    return StatusUpdate(
        carrier_message_id=require_string(report.get("batch_id"), "batch_id"),
        status=ours,
        error_code=str(code) if is_error and has_code else None,
        error_text=SINCH_ERROR_CODES.get(code) if is_error and has_code else None,
        occurred_at=parse_timestamp(report.get("at")),
        raw=dict(report),
    )


def _media(item: object) -> InboundMedia:
    entry = require_object(item, "body.media[]")
    # Sinch's API reference says content_type; its Java SDK's test fixture says contentType.
    content_type = entry.get("content_type", entry.get("contentType"))
    return InboundMedia(
        url=require_string(entry.get("url"), "body.media[].url"),
        content_type=content_type if isinstance(content_type, str) and content_type else None,
    )
