"""Flowroute Messages API v2.2: send SMS/MMS, and read the JSON:API callbacks for inbound messages and DLRs.

Sending: https://developer.flowroute.com/api/messages/v2.2/send-an-sms and .../send-an-mms
Inbound: https://developer.flowroute.com/api/messages/v2.2/receive-an-sms and .../receive-an-mms
Delivery receipts: https://developer.flowroute.com/api/messages/v2.2/receive-a-dlr and
https://developer.flowroute.com/docs/delivery-receipts

Flowroute signs nothing it posts, so the callback URLs carry the account's random secret (``?secret=``).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, NotRequired, TypedDict

import requests

from fspbx_sms.carriers.base import (
    CarrierAdapter,
    CarrierError,
    CredentialField,
    DeliveryStatus,
    ErrorDetail,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
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

# -- the callback payloads ---------------------------------------------------------------------------
# https://developer.flowroute.com/api/messages/v2.2/receive-an-mms ("Response Fields")

# ``from`` is a Python keyword, hence the functional form.
FlowrouteMessageAttributes = TypedDict(
    "FlowrouteMessageAttributes",
    {
        "body": str | None,
        "direction": Literal["inbound", "outbound"],
        "from": str,
        "to": str,
        "is_mms": bool,
        "timestamp": NotRequired[str],
        "status": NotRequired[str],
        "message_type": NotRequired[str],
    },
)


class FlowrouteMediaAttributes(TypedDict):
    """``included[].attributes`` of one MMS attachment; the URL is a temporary S3 link."""

    url: str
    mime_type: str
    file_name: NotRequired[str]
    file_size: NotRequired[int]


class FlowrouteReceiptAttributes(TypedDict):
    """``data.attributes`` of a delivery receipt (``data.type == "delivery_receipt"``)."""

    body: str
    level: int
    status: str
    status_code: str | int | None
    status_code_description: str | None
    timestamp: str


class FlowrouteResource(TypedDict):
    """A JSON:API resource object: ``data`` (a message or a receipt) or one ``included[]`` entry (media)."""

    id: str
    type: Literal["message", "delivery_receipt", "media"]
    attributes: FlowrouteMessageAttributes | FlowrouteReceiptAttributes | FlowrouteMediaAttributes


class FlowrouteCallback(TypedDict):
    """A whole callback body."""

    data: FlowrouteResource
    included: NotRequired[list[FlowrouteResource]]


#: Delivery-receipt ``status`` → ours. Level 1 is Flowroute to its upstream (ESME), level 2 the carrier's
#: report. "smsc submit", "message buffered" and "delivered" are the values in Flowroute's examples; the
#: others are the SMPP final states (SMPP 3.4 §5.2.28) that carriers report and Flowroute passes on.
FLOWROUTE_STATUSES: dict[str, DeliveryStatus] = {
    "smsc submit": DeliveryStatus.SENT,
    "smsc intermediate notifications": DeliveryStatus.SENT,
    "message buffered": DeliveryStatus.SENT,
    "accepted": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "smsc reject": DeliveryStatus.FAILED,
    "expired": DeliveryStatus.UNDELIVERED,
    "deleted": DeliveryStatus.UNDELIVERED,
    "undeliverable": DeliveryStatus.UNDELIVERED,
    "rejected": DeliveryStatus.UNDELIVERED,
    "unknown": DeliveryStatus.UNKNOWN,
}

#: Flowroute's maximum MMS size, text included ("MMS Limitations" on the send-an-mms page). The size of
#: media we serve is only known to the media server; the text's share is checked here.
MMS_MAX_BYTES = 750_000

JSON_API = "application/vnd.api+json"


class FlowrouteAdapter(CarrierAdapter):
    """Flowroute: HTTP Basic auth (access key, secret key) for sending; a URL secret for callbacks."""

    provider: ClassVar[str] = "flowroute"
    display_name: ClassVar[str] = "Flowroute"
    default_base_url: ClassVar[str] = "https://api.flowroute.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            "access_key", required=True, secret=False, help="the API Access Key (Flowroute Manage, Preferences, API)"
        ),
        CredentialField(
            "secret_key", required=True, secret=True, help="the API Secret Key (Flowroute Manage, Preferences, API)"
        ),
    )
    webhook_auth: ClassVar[str] = (
        "Flowroute does not sign its callbacks: set the SMS, MMS and DLR callback URLs to this account's "
        "webhook URL, which carries a random secret (?secret=...) that is checked in constant time"
    )
    url_secret: ClassVar[bool] = True

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /v2.2/messages`` in JSON:API form; ``media_urls`` (with ``is_mms``) makes it an MMS."""
        check_send_limits(message, self.provider, needs_content=True)
        if message.media_urls and len(message.text.encode()) > MMS_MAX_BYTES:
            raise CarrierError(f"MMS text exceeds Flowroute's {MMS_MAX_BYTES} byte MMS size", carrier=self.provider)
        attributes: dict[str, Any] = {
            "to": self._number(message.to_numbers[0]),
            "from": self._number(message.from_number),
        }
        if message.text:
            attributes["body"] = message.text
        if message.media_urls:
            attributes["is_mms"] = True
            attributes["media_urls"] = list(message.media_urls)
        body = {"data": {"type": "message", "attributes": attributes}}
        return requests.Request(
            "POST",
            f"{self.base_url}/v2.2/messages",
            data=json.dumps(body).encode(),
            headers={"Content-Type": JSON_API, "Accept": JSON_API},
            auth=(self.credentials["access_key"], self.credentials["secret_key"]),
        )

    def _number(self, number: str) -> str:
        # Flowroute writes E.164 without the plus: 12065551234.
        digits = number.removeprefix("+")
        if not (digits.isascii() and digits.isdigit()):
            raise CarrierError(f"{number!r} is not an E.164 number", carrier=self.provider)
        return digits

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """202 Accepted with ``data.id`` (``mdr2-…``): queued at Flowroute."""
        body = response_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        message_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise self.unusable_answer(response, "accepted the message but its answer has no data.id")
        return SendResult(message_id, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """The first of ``{"errors": [{"id", "status", "title", "detail"}]}``; Flowroute has no error codes,
        so the code is the error's ``status`` (the HTTP status it reports)."""
        body = response_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if not isinstance(first, dict):
            return ErrorDetail(code=None, text=None)
        parts = [part for part in (first.get("title"), first.get("detail")) if isinstance(part, str) and part]
        return ErrorDetail(code=code_text(first.get("status")), text=": ".join(parts) or None)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """The URL's ``secret`` must be this account's."""
        self.verify_url_secret(request)

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One inbound message or delivery receipt per callback; anything else gives []."""
        event = flowroute_event(json_object(request.body))
        return [] if event is None else [event]


def flowroute_event(callback: FlowrouteCallback | dict[str, Any]) -> InboundMessage | StatusUpdate | None:
    """Our event for one Flowroute callback body; None for resources we do not handle.

    Raises :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    data = require_object(callback.get("data"), "data")
    kind = data.get("type")
    message_id = require_string(data.get("id"), "data.id")
    attributes = require_object(data.get("attributes"), "data.attributes")
    if kind == "delivery_receipt":
        status = FLOWROUTE_STATUSES.get(str(attributes.get("status", "")).strip().lower(), DeliveryStatus.UNKNOWN)
        failed = status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
        description = attributes.get("status_code_description")
        return StatusUpdate(
            carrier_message_id=message_id,
            status=status,
            error_code=code_text(attributes.get("status_code")) if failed else None,
            error_text=description if failed and isinstance(description, str) and description else None,
            occurred_at=parse_timestamp(attributes.get("timestamp")),
            raw=dict(callback),
        )
    if kind != "message" or attributes.get("direction") != "inbound":
        return None
    text = attributes.get("body")
    if text is not None and not isinstance(text, str):
        raise WebhookParseError("data.attributes.body is not a string")
    included = require_list(callback.get("included") or [], "included")
    return InboundMessage(
        carrier_message_id=message_id,
        from_number=_e164(require_string(attributes.get("from"), "data.attributes.from")),
        to_numbers=(_e164(require_string(attributes.get("to"), "data.attributes.to")),),
        text=text or "",
        media=tuple(_media(item) for item in included if isinstance(item, dict) and item.get("type") == "media"),
        received_at=parse_timestamp(attributes.get("timestamp")),
        raw=dict(callback),
    )


def _media(item: dict[str, Any]) -> InboundMedia:
    attributes = require_object(item.get("attributes"), "included[].attributes")
    content_type = attributes.get("mime_type")
    return InboundMedia(
        url=require_string(attributes.get("url"), "included[].attributes.url"),
        content_type=content_type if isinstance(content_type, str) and content_type else None,
    )


def _e164(number: str) -> str:
    # Flowroute omits the plus of E.164; put it back so numbers compare equal across carriers.
    return f"+{number}" if number.isascii() and number.isdigit() else number
