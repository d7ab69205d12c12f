"""ClickSend REST v3: send SMS/MMS, and read the inbound-message and delivery-receipt pushes.

Sending: https://developers.clicksend.com/docs/messaging/sms and https://developers.clicksend.com/docs/messaging/mms
Inbound and receipts: the URL actions of https://developers.clicksend.com/docs/automations/sms (inbound rules and
delivery-receipt rules; ``webhook_type`` ``post`` sends a form, ``json`` sends JSON).

ClickSend answers HTTP 200 even when a message was refused: each message has its own ``status`` in
``data.messages[]`` and anything but ``SUCCESS`` is a failure. It signs nothing it posts, so the webhook URL
carries the account's random secret (``?secret=``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, NotRequired, TypedDict
from urllib.parse import parse_qsl

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
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.payload import check_send_limits, json_object, response_json

# -- the pushes ----------------------------------------------------------------------------------------
# Form fields (or JSON keys) as ClickSend posts them; every value arrives as text in a form.

# ``from`` is a Python keyword, hence the functional form.
ClickSendInbound = TypedDict(
    "ClickSendInbound",
    {
        "message_id": str,
        "from": str,
        "to": str,
        "body": str,
        "message": NotRequired[str],
        "timestamp": NotRequired[str],
        "original_message_id": NotRequired[str],
        "original_body": NotRequired[str],
        "custom_string": NotRequired[str],
        "user_id": NotRequired[str],
        "subaccount_id": NotRequired[str],
        "_media_file_url": NotRequired[str],
    },
)


class ClickSendReceipt(TypedDict):
    """A delivery-receipt push."""

    message_id: str
    status: str
    status_code: NotRequired[str]
    status_text: NotRequired[str]
    error_code: NotRequired[str | None]
    error_text: NotRequired[str | None]
    timestamp: NotRequired[str]
    custom_string: NotRequired[str]


#: Receipt ``status`` (compared case-insensitively) → ours.
CLICKSEND_STATUSES: dict[str, DeliveryStatus] = {
    "waitapproval": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "expired": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "cancelled": DeliveryStatus.FAILED,
    "rejected": DeliveryStatus.FAILED,
}

#: Application status codes (per message, or ``response_code`` of the whole answer) where the same request
#: can succeed later: rate limiting, ClickSend's own errors, and an empty balance (topping up the account
#: lets the queued messages go out). Everything else, e.g. INVALID_RECIPIENT or COUNTRY_NOT_ENABLED, is
#: permanent.
RETRYABLE_CODES = frozenset(
    {"THROTTLED", "TOO_MANY_REQUESTS", "INTERNAL_ERROR", "INTERNAL_SERVER_ERROR", "INSUFFICIENT_CREDIT"}
)

#: "Send MMS": one attachment per message; 1500 characters of GSM 03.38 text, 500 otherwise; a subject of
#: at most 20 characters. ClickSend truncates longer text instead of refusing it.
MMS_MAX_MEDIA = 1
MMS_MAX_GSM_CHARS = 1500
MMS_MAX_UNICODE_CHARS = 500
SUBJECT_MAX_CHARS = 20
DEFAULT_SUBJECT = "MMS"

#: GSM 03.38 default alphabet and its extension table (the extension characters take two septets, which
#: ClickSend's character counts do not distinguish).
GSM_CHARACTERS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)

#: Where our messages say they come from, in ClickSend's reports.
SOURCE = "fspbx-sms"


class ClickSendAdapter(CarrierAdapter):
    """ClickSend: HTTP Basic auth (username, API key) for sending; a URL secret for its pushes."""

    provider: ClassVar[str] = "clicksend"
    display_name: ClassVar[str] = "ClickSend"
    default_base_url: ClassVar[str] = "https://rest.clicksend.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("username", required=True, secret=False, help="the API username (Dashboard, API Credentials)"),
        CredentialField("api_key", required=True, secret=True, help="the API key (Dashboard, API Credentials)"),
        CredentialField(
            "mms_subject",
            required=False,
            secret=False,
            help=f"the subject ClickSend requires on every MMS, at most {SUBJECT_MAX_CHARS} characters "
            f"(default {DEFAULT_SUBJECT!r})",
        ),
    )
    webhook_auth: ClassVar[str] = (
        "ClickSend does not sign its pushes: point the inbound SMS/MMS rule and the delivery-receipt rule "
        "(action URL, webhook type post or json) at this account's webhook URL, which carries a random "
        "secret (?secret=...) that is checked in constant time"
    )
    url_secret: ClassVar[bool] = True

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The MMS subject, when set, must fit ClickSend's 20 characters."""
        if len(credentials.get("mms_subject", "")) > SUBJECT_MAX_CHARS:
            raise CarrierConfigError("mms_subject", f"mms_subject must be at most {SUBJECT_MAX_CHARS} characters")
        return credentials

    def check_request(self) -> requests.Request:
        """The account (``GET /v3/account``)."""
        auth = (self.credentials["username"], self.credentials["api_key"])
        return self.basic_auth_request("GET", "/v3/account", auth)

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /v3/sms/send``, or ``/v3/mms/send`` with ``media_file`` when there is media."""
        check_send_limits(message, self.provider)
        entry: dict[str, Any] = {
            "source": SOURCE,
            "from": message.from_number,
            "to": message.to_numbers[0],
            "body": message.text,
        }
        if message.media_urls:
            self._check_mms(message)
            entry["subject"] = self.credentials.get("mms_subject", DEFAULT_SUBJECT)
            path, body = "/v3/mms/send", {"media_file": message.media_urls[0], "messages": [entry]}
        else:
            if not message.text:
                raise CarrierError("an SMS needs text", carrier=self.provider)
            path, body = "/v3/sms/send", {"messages": [entry]}
        auth = (self.credentials["username"], self.credentials["api_key"])
        return self.basic_auth_request("POST", path, auth, json=body)

    def _check_mms(self, message: OutboundMessage) -> None:
        if len(message.media_urls) > MMS_MAX_MEDIA:
            raise CarrierError(
                f"ClickSend sends {MMS_MAX_MEDIA} attachment per MMS, not {len(message.media_urls)}",
                carrier=self.provider,
            )
        limit = MMS_MAX_GSM_CHARS if set(message.text) <= GSM_CHARACTERS else MMS_MAX_UNICODE_CHARS
        if len(message.text) > limit:
            raise CarrierError(
                f"MMS text of {len(message.text)} characters exceeds ClickSend's {limit}", carrier=self.provider
            )

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``data.messages[0]``: its ``message_id`` if its ``status`` is SUCCESS, else a CarrierError."""
        body = response_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        messages = data.get("messages") if isinstance(data, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        if not isinstance(first, dict):
            raise self.unusable_answer(response, "accepted the request but its answer has no data.messages[0]")
        status = first.get("status")
        if status != "SUCCESS":
            code = status if isinstance(status, str) and status else None
            raise CarrierError(
                f"refused the message: {code or 'no status'}",
                carrier=self.provider,
                status_code=response.status_code,
                code=code,
                response_text=response.text[:RESPONSE_TEXT_LIMIT],
                retryable=code in RETRYABLE_CODES,
            )
        message_id = first.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise self.unusable_answer(response, "accepted the message but its answer has no message_id")
        return SendResult(message_id, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"http_code", "response_code", "response_msg", "data"}``: the code and its message."""
        body = response_json(response)
        if not isinstance(body, dict):
            return ErrorDetail(code=None, text=None)
        code, text = body.get("response_code"), body.get("response_msg")
        code = code if isinstance(code, str) and code else None
        return ErrorDetail(
            code=code,
            text=text if isinstance(text, str) and text else None,
            retryable=True if code in RETRYABLE_CODES else None,
        )

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """The URL's ``secret`` must be this account's."""
        self.verify_url_secret(request)

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One inbound message or delivery receipt per push, form-encoded or JSON; anything else gives []."""
        fields = _fields(request)
        event = clicksend_event(fields)
        return [] if event is None else [event]


def _fields(request: WebhookRequest) -> dict[str, Any]:
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or request.body.lstrip()[:1] == b"{":
        return json_object(request.body)
    try:
        text = request.body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except (UnicodeDecodeError, ValueError) as err:
        raise WebhookParseError("the body is not a UTF-8 form") from err


def clicksend_event(
    fields: ClickSendInbound | ClickSendReceipt | Mapping[str, Any],
) -> InboundMessage | StatusUpdate | None:
    """Our event for one ClickSend push (its fields); None for pushes that are neither kind.

    An inbound message has ``from`` and ``body``; a delivery receipt has ``status``. Raises
    :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    if "from" in fields and ("body" in fields or "message" in fields):
        return _inbound(fields)
    if "status" in fields:
        return _receipt(fields)
    return None


def _inbound(fields: Mapping[str, Any]) -> InboundMessage:
    text = fields.get("body", fields.get("message"))
    if not isinstance(text, str):
        raise WebhookParseError("body is not a string")
    media_url = fields.get("_media_file_url")
    if media_url is not None and not isinstance(media_url, str):
        raise WebhookParseError("_media_file_url is not a string")
    return InboundMessage(
        carrier_message_id=_string(fields.get("message_id"), "message_id"),
        from_number=_string(fields.get("from"), "from"),
        to_numbers=(_string(fields.get("to"), "to"),),
        text=text,
        media=(InboundMedia(url=media_url, content_type=None),) if media_url else (),
        received_at=_unix_time(fields.get("timestamp")),
        raw=dict(fields),
    )


def _receipt(fields: Mapping[str, Any]) -> StatusUpdate:
    status = _text(fields.get("status")) or ""
    ours = CLICKSEND_STATUSES.get(status.lower(), DeliveryStatus.UNKNOWN)
    failed = ours in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
    code = _text(fields.get("error_code")) or (_text(fields.get("status_code")) if failed else None)
    text = _text(fields.get("error_text")) or (_text(fields.get("status_text")) if failed else None)
    return StatusUpdate(
        carrier_message_id=_string(fields.get("message_id"), "message_id"),
        status=ours,
        error_code=code,
        error_text=text,
        occurred_at=_unix_time(fields.get("timestamp")),
        raw=dict(fields),
    )


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _string(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
        raise WebhookParseError(f"{where} is missing")
    return str(value)


def _unix_time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    seconds = str(value)
    if not (seconds.isascii() and seconds.isdigit() and len(seconds) <= 12):
        return None
    return datetime.fromtimestamp(int(seconds), tz=UTC)
