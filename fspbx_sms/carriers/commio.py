"""Commio (formerly thinQ): send SMS/MMS through the origination API, and read its inbound-message and
delivery-notification webhooks.

API reference: https://apidocs.thinq.com (Commio API Documentation: "Send SMS", "Send MMS", "Inbound SMS/MMS
webhook", "Outbound SMS delivery notification"). Authentication is HTTP Basic with the portal username and an
API token.

Commio numbers are US/Canadian DIDs written as ten digits. Commio signs nothing it posts, so the webhook URL
carries the account's random secret (``?secret=``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NotRequired, TypedDict
from urllib.parse import parse_qsl

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
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.payload import check_send_limits, code_text, json_object, response_json

# -- the webhooks ----------------------------------------------------------------------------------------
# Form fields as Commio posts them.

# ``from`` is a Python keyword, hence the functional form.
CommioInbound = TypedDict(
    "CommioInbound",
    {
        "from": str,
        "to": str,
        "type": Literal["sms", "mms"],
        # The text of an SMS; for an MMS, the media URL (or the media itself, base64).
        "message": str,
    },
)


class CommioDeliveryNotification(TypedDict):
    """An outbound-message delivery notification."""

    guid: str
    status: str
    account_id: NotRequired[str]
    source_did: NotRequired[str]
    destination_did: NotRequired[str]
    timestamp: NotRequired[str]
    send_status: NotRequired[str]
    error: NotRequired[str]


#: ``status`` (the SMPP delivery-receipt state Commio passes on) → ours.
COMMIO_STATUSES: dict[str, DeliveryStatus] = {
    "ENROUTE": DeliveryStatus.SENT,
    "ACCEPTD": DeliveryStatus.SENT,
    "DELIVRD": DeliveryStatus.DELIVERED,
    "EXPIRED": DeliveryStatus.UNDELIVERED,
    "DELETED": DeliveryStatus.UNDELIVERED,
    "UNDELIV": DeliveryStatus.UNDELIVERED,
    "REJECTD": DeliveryStatus.FAILED,
    "UNKNOWN": DeliveryStatus.UNKNOWN,
}

#: The ``error`` of a notification that reports no error.
NO_ERROR = frozenset({"", "0", "000"})

#: "Send MMS" takes one ``media_url`` and no text.
MMS_MAX_MEDIA = 1


class CommioAdapter(CarrierAdapter):
    """Commio: HTTP Basic auth (username, API token) on the account's origination API; a URL secret for
    its webhooks."""

    provider: ClassVar[str] = "commio"
    display_name: ClassVar[str] = "Commio (thinQ)"
    default_base_url: ClassVar[str] = "https://api.thinq.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("account_id", required=True, secret=False, help="the numeric account ID of the Commio portal"),
        CredentialField("username", required=True, secret=False, help="the portal username the API token belongs to"),
        CredentialField(
            "api_token", required=True, secret=True, help="an API token with messaging rights (portal, API, Tokens)"
        ),
    )
    webhook_auth: ClassVar[str] = (
        "Commio does not sign its webhooks: set the SMS/MMS inbound URL and the delivery notification URL "
        "to this account's webhook URL, which carries a random secret (?secret=...) that is checked in "
        "constant time"
    )
    url_secret: ClassVar[bool] = True

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The account ID is the number the portal shows (it goes into the API path)."""
        account = credentials["account_id"]
        if not (account.isascii() and account.isdigit()):
            raise CarrierConfigError("account_id", "account_id must be the numeric Commio account ID")
        return credentials

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST …/sms/send`` as JSON, or ``…/mms/send`` as a multipart form with one ``media_url``."""
        check_send_limits(message, self.provider)
        fields = {"from_did": self._did(message.from_number), "to_did": self._did(message.to_numbers[0])}
        auth = (self.credentials["username"], self.credentials["api_token"])
        root = f"/account/{self.credentials['account_id']}/product/origination"
        if not message.media_urls:
            if not message.text:
                raise CarrierError("an SMS needs text", carrier=self.provider)
            body = {**fields, "message": message.text}
            return self.basic_auth_request("POST", f"{root}/sms/send", auth, json=body)
        if len(message.media_urls) > MMS_MAX_MEDIA or message.text:
            raise CarrierError(
                f"Commio sends an MMS as {MMS_MAX_MEDIA} media URL without text; this one has "
                f"{len(message.media_urls)} media URL(s) and {len(message.text)} characters of text",
                carrier=self.provider,
            )
        form = {**fields, "media_url": message.media_urls[0]}
        # files= makes requests send multipart/form-data, as Commio's MMS endpoint takes it.
        files = {name: (None, value) for name, value in form.items()}
        return self.basic_auth_request("POST", f"{root}/mms/send", auth, files=files)

    def _did(self, number: str) -> str:
        digits = number.removeprefix("+")
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
            raise CarrierError(f"{number!r} is not a US/Canadian number", carrier=self.provider)
        return digits

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``{"guid": …}``: accepted and queued."""
        body = response_json(response)
        guid = body.get("guid") if isinstance(body, dict) else None
        if isinstance(guid, int) and not isinstance(guid, bool):
            guid = str(guid)
        if not isinstance(guid, str) or not guid:
            raise self.unusable_answer(response, "accepted the message but its answer has no guid")
        return SendResult(guid, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"code", "message"}`` or ``{"error"}``; Commio marks nothing retryable itself."""
        body = response_json(response)
        if not isinstance(body, dict):
            return ErrorDetail(code=None, text=None)
        text = body.get("message") or body.get("error")
        return ErrorDetail(code=code_text(body.get("code")), text=text if isinstance(text, str) and text else None)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """The URL's ``secret`` must be this account's."""
        self.verify_url_secret(request)

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One inbound message or delivery notification per request; anything else gives []."""
        event = commio_event(_fields(request), request.body)
        return [] if event is None else [event]


def _fields(request: WebhookRequest) -> dict[str, Any]:
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return json_object(request.body)
    try:
        text = request.body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text.strip())))
    except (UnicodeDecodeError, ValueError) as err:
        raise WebhookParseError("the body is not a UTF-8 form") from err


def commio_event(
    fields: CommioInbound | CommioDeliveryNotification | Mapping[str, Any], body: bytes
) -> InboundMessage | StatusUpdate | None:
    """Our event for one Commio webhook (its fields and raw body); None for requests of neither kind.

    A delivery notification has ``guid`` and ``status``; an inbound message has ``from``, ``to`` and ``type``.
    Raises :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    if "guid" in fields and "status" in fields:
        status = fields.get("status")
        key = status.strip().upper() if isinstance(status, str) else ""
        ours = COMMIO_STATUSES.get(key, DeliveryStatus.UNKNOWN)
        error = fields.get("error")
        error_code = error.strip() if isinstance(error, str) and error.strip() not in NO_ERROR else None
        send_status = fields.get("send_status")
        failed = ours in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
        return StatusUpdate(
            carrier_message_id=_string(fields.get("guid"), "guid"),
            status=ours,
            error_code=error_code,
            error_text=send_status if failed and isinstance(send_status, str) and send_status else None,
            # The notification's timestamp has no documented format or zone; we do not guess one.
            occurred_at=None,
            raw=dict(fields),
        )
    if "from" not in fields or "type" not in fields:
        return None
    kind = _string(fields.get("type"), "type").lower()
    content = fields.get("message", "")
    if not isinstance(content, str):
        raise WebhookParseError("message is not a string")
    if kind == "sms":
        text, media = content, ()
    elif kind == "mms":
        text, media = "", ((_media(content),) if content else ())
    else:
        return None
    return InboundMessage(
        # Commio's inbound webhook carries no message id: the body's digest stands in, so a webhook Commio
        # delivers twice is stored once. Its price: the same words sent twice between the same numbers get
        # the same id too.
        carrier_message_id=f"commio-{hashlib.sha256(body).hexdigest()[:32]}",
        from_number=_e164(_string(fields.get("from"), "from")),
        to_numbers=(_e164(_string(fields.get("to"), "to")),),
        text=text,
        media=media,
        received_at=None,
        raw=dict(fields),
    )


def _media(content: str) -> InboundMedia:
    # An MMS carries its media as a URL, or as the file itself in base64 (which becomes a data: URL).
    if content.startswith(("http://", "https://")):
        return InboundMedia(url=content, content_type=None)
    return InboundMedia(url=f"data:application/octet-stream;base64,{content}", content_type=None)


def _e164(number: str) -> str:
    # Commio writes North American numbers as ten digits.
    if len(number) == 10 and number.isascii() and number.isdigit():
        return f"+1{number}"
    if len(number) == 11 and number.startswith("1") and number.isascii() and number.isdigit():
        return f"+{number}"
    return number


def _string(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
        raise WebhookParseError(f"{where} is missing")
    return str(value)
