"""Bandwidth Messaging API v2: send SMS/MMS, and read the message callbacks Bandwidth posts as a JSON array.

Sending: https://dev.bandwidth.com/docs/messaging/createMessage
Webhooks: https://dev.bandwidth.com/docs/messaging/webhooks
Errors: https://dev.bandwidth.com/docs/messaging/errors

Bandwidth signs nothing: its callbacks carry the HTTP Basic credentials configured on the messaging
application, which we compare in constant time. Inbound media URLs need the API credentials to download
(:meth:`BandwidthAdapter.media_request`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any, ClassVar, Literal, NotRequired, TypedDict
from urllib.parse import urlsplit

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
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.payload import (
    check_send_limits,
    code_text,
    json_document,
    parse_timestamp,
    require_list,
    require_object,
    require_string,
    response_json,
)

# -- the webhook payload ---------------------------------------------------------------------------
# https://dev.bandwidth.com/docs/messaging/webhooks ("Request Parameters"); every callback body is a list.

# ``from`` is a Python keyword, hence the functional form.
BandwidthMessage = TypedDict(
    "BandwidthMessage",
    {
        "id": str,
        "owner": str,
        "applicationId": str,
        "time": str,
        "segmentCount": int,
        "direction": Literal["in", "out"],
        "to": list[str],
        "from": str,
        "text": str,
        "media": NotRequired[list[str]],
        "tag": NotRequired[str],
    },
)


class BandwidthEvent(TypedDict):
    """One element of the callback array."""

    type: str
    time: str
    description: str
    to: str
    message: BandwidthMessage
    errorCode: NotRequired[int]


#: An inbound SMS or MMS.
INBOUND_EVENT = "message-received"

#: Callback ``type`` of an outbound message → ours. ``message-delivered`` is Bandwidth's terminal success
#: (for MMS without delivery receipts it only means handed to Bandwidth's MMSC); ``message-failed`` is
#: refined by its error code, see :func:`failed_status`.
BANDWIDTH_STATUSES: dict[str, DeliveryStatus] = {
    "message-sending": DeliveryStatus.QUEUED,
    "message-delivered": DeliveryStatus.DELIVERED,
    "message-failed": DeliveryStatus.FAILED,
}

#: A sender plus at most nine recipients: "a maximum of 10 participants in a Group".
MAX_RECIPIENTS = 9
#: ``text``: "Must be 2048 characters or less".
MAX_TEXT_LENGTH = 2048
#: ``media[]``: "Each URL can be at most 4096 characters".
MAX_MEDIA_URL_LENGTH = 4096


class BandwidthAdapter(CarrierAdapter):
    """Bandwidth: API username/password for sending, the application's callback credentials for webhooks."""

    provider: ClassVar[str] = "bandwidth"
    display_name: ClassVar[str] = "Bandwidth"
    default_base_url: ClassVar[str] = "https://messaging.bandwidth.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("account_id", required=True, secret=False, help="Bandwidth account ID (e.g. 9900000)"),
        CredentialField(
            "username", required=True, secret=False, help="API credentials username (Account, API Credentials)"
        ),
        CredentialField("password", required=True, secret=True, help="API credentials password"),
        CredentialField(
            "application_id",
            required=True,
            secret=False,
            help="ID of the messaging application the numbers are on (Applications)",
        ),
        CredentialField(
            "webhook_username",
            required=True,
            secret=False,
            help="callback username set on the messaging application (Callback Authentication)",
        ),
        CredentialField(
            "webhook_password",
            required=True,
            secret=True,
            help="callback password set on the messaging application (Callback Authentication)",
        ),
    )
    webhook_auth: ClassVar[str] = (
        "HTTP Basic authentication with the callback username/password configured on the Bandwidth messaging "
        "application, compared in constant time (Bandwidth does not sign callbacks)"
    )

    def check_request(self) -> requests.Request:
        """The account's stored media list (``GET /api/v2/users/{accountId}/media``)."""
        auth = (self.credentials["username"], self.credentials["password"])
        return self.basic_auth_request("GET", f"/api/v2/users/{self.credentials['account_id']}/media", auth)

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /api/v2/users/{accountId}/messages``: up to nine recipients; ``media`` makes it an MMS."""
        check_limits(message, carrier=self.provider)
        body: dict[str, Any] = {
            "applicationId": self.credentials["application_id"],
            "to": list(message.to_numbers),
            "from": message.from_number,
        }
        if message.text:
            body["text"] = message.text
        if message.media_urls:
            body["media"] = list(message.media_urls)
        if message.reference:
            body["tag"] = message.reference
        auth = (self.credentials["username"], self.credentials["password"])
        path = f"/api/v2/users/{self.credentials['account_id']}/messages"
        return self.basic_auth_request("POST", path, auth, json=body)

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``202 Accepted`` with the message; its ``id`` is what callbacks carry."""
        body = response_json(response)
        message_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise self.unusable_answer(response, "accepted the message but its answer has no id")
        return SendResult(message_id, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"type", "description", "fieldErrors": [{"fieldName", "description"}]}``; HTTP status decides retry."""
        body = response_json(response)
        if not isinstance(body, dict):
            return ErrorDetail(code=None, text=None)
        code = body.get("type")
        parts = [body.get("description")]
        field_errors = body.get("fieldErrors")
        if isinstance(field_errors, list):
            parts += [item.get("description") for item in field_errors if isinstance(item, dict)]
        text = ": ".join(part for part in parts if isinstance(part, str) and part)
        return ErrorDetail(code=code if isinstance(code, str) and code else None, text=text or None)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """The request's Basic credentials must be the application's callback credentials."""
        given = basic_credentials(request.headers.get("Authorization", ""))
        if given is None:
            raise WebhookAuthError("no HTTP Basic credentials", status_code=401)
        username, password = given
        # Both compared, always, so the time taken says nothing about which one is wrong.
        username_ok = hmac.compare_digest(username.encode(), self.credentials["webhook_username"].encode())
        password_ok = hmac.compare_digest(password.encode(), self.credentials["webhook_password"].encode())
        if not (username_ok and password_ok):
            raise WebhookAuthError("wrong callback credentials", status_code=403)

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """Every event of the callback array, in order."""
        document = json_document(request.body)
        if not isinstance(document, list):
            raise WebhookParseError("the body is not a JSON array of events")
        return [bandwidth_event(require_object(item, "event")) for item in document]

    def media_request(self, url: str) -> requests.Request:
        """A GET for an inbound media URL, with the API credentials only when the URL is on Bandwidth's API.

        Bandwidth's inbound MMS media (``…/api/v2/users/{accountId}/media/…``) needs Basic auth; the
        credentials are never sent to any other host.
        """
        request = requests.Request("GET", url)
        if urlsplit(url).netloc.lower() == urlsplit(self.base_url).netloc.lower():
            request.auth = (self.credentials["username"], self.credentials["password"])
        return request


def check_limits(message: OutboundMessage, *, carrier: str) -> None:
    """Raise a permanent :class:`CarrierError` for what Bandwidth documents it refuses."""
    check_send_limits(message, carrier, max_recipients=MAX_RECIPIENTS)
    if len(message.text) > MAX_TEXT_LENGTH:
        raise CarrierError(f"text is longer than {MAX_TEXT_LENGTH} characters", carrier=carrier)
    if any(len(url) > MAX_MEDIA_URL_LENGTH for url in message.media_urls):
        raise CarrierError(f"a media URL is longer than {MAX_MEDIA_URL_LENGTH} characters", carrier=carrier)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(username, password)`` from an ``Authorization: Basic …`` header; None if absent or malformed."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


def failed_status(error_code: object) -> DeliveryStatus:
    """``message-failed`` by error code: the second digit says who refused it.

    Per the error code schema, x7xx and x6xx codes are reported by the destination carrier and 9xxx is a
    downstream failure of unclear cause (undelivered); the rest were refused by Bandwidth itself (failed).
    """
    code = code_text(error_code) or ""
    if len(code) == 4 and code.isascii() and code.isdigit() and (code[0] == "9" or code[1] in "67"):
        return DeliveryStatus.UNDELIVERED
    return DeliveryStatus.FAILED


def bandwidth_event(event: BandwidthEvent | dict[str, Any]) -> InboundMessage | StatusUpdate:
    """Our event for one element of a Bandwidth callback array.

    Raises :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise WebhookParseError("type is missing")
    message = require_object(event.get("message"), "message")
    message_id = require_string(message.get("id"), "message.id")
    occurred_at = parse_timestamp(event.get("time"))
    if event_type != INBOUND_EVENT:
        error_code = event.get("errorCode")
        status = BANDWIDTH_STATUSES.get(event_type, DeliveryStatus.UNKNOWN)
        if event_type == "message-failed":
            status = failed_status(error_code)
        description = event.get("description")
        failed = status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)
        return StatusUpdate(
            carrier_message_id=message_id,
            status=status,
            error_code=code_text(error_code) if failed else None,
            error_text=description if failed and isinstance(description, str) and description else None,
            occurred_at=occurred_at,
            raw=dict(event),
        )
    sender = require_string(message.get("from"), "message.from")
    recipients = require_list(message.get("to"), "message.to")
    # ``owner`` is the one of our numbers this copy belongs to (each of our numbers in a group gets its own).
    owner = message.get("owner") or (recipients[0] if recipients else None)
    to_numbers = [require_string(owner, "message.owner")]
    for index, number in enumerate(recipients):
        number = require_string(number, f"message.to[{index}]")
        if number != sender and number not in to_numbers:
            to_numbers.append(number)
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        raise WebhookParseError("message.text is not a string")
    media = require_list(message.get("media") or [], "message.media")
    return InboundMessage(
        carrier_message_id=message_id,
        from_number=sender,
        to_numbers=tuple(to_numbers),
        text=text or "",
        media=tuple(InboundMedia(require_string(url, "message.media[]"), None) for url in media),
        received_at=parse_timestamp(message.get("time")) or occurred_at,
        raw=dict(event),
    )
