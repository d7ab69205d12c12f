"""Vonage Messages API v1: send SMS/MMS, and read inbound-message and message-status webhooks signed with a JWT.

Sending: https://developer.vonage.com/en/api/messages (``POST /v1/messages``)
Webhooks: https://developer.vonage.com/en/messages/concepts/signed-webhooks

Sending uses HTTP Basic with the account's API key and secret: the Messages API accepts it, and it needs no
private key or token minting (JWT application auth would add an RSA key to store and rotate for no gain
here). Webhooks carry ``Authorization: Bearer <JWT>``, HS256-signed with the account's signature secret,
whose ``payload_hash`` claim is the SHA-256 of the body; PyJWT is not needed for one HS256 check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import time
from typing import Any, ClassVar, NotRequired, TypedDict
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
    json_object,
    parse_timestamp,
    require_object,
    require_string,
    response_json,
)

# -- the webhook payloads ------------------------------------------------------------------------------
# https://developer.vonage.com/en/api/messages ("Webhooks": inbound-message, message-status)


class VonageMediaObject(TypedDict):
    """``image`` / ``audio`` / ``video`` / ``file`` / ``vcard`` of an inbound MMS."""

    url: str
    caption: NotRequired[str]


class VonageError(TypedDict):
    """``error`` of a message-status webhook (RFC 7807; ``title`` is the numeric code)."""

    type: str
    title: str | int
    detail: str
    instance: str


# ``from`` is a Python keyword, hence the functional form.
VonageWebhook = TypedDict(
    "VonageWebhook",
    {
        "message_uuid": str,
        "to": str,
        "from": str,
        "timestamp": str,
        "channel": str,
        # inbound-message only
        "message_type": NotRequired[str],
        "text": NotRequired[str],
        "image": NotRequired[VonageMediaObject],
        # message-status only
        "status": NotRequired[str],
        "error": NotRequired[VonageError],
        "client_ref": NotRequired[str],
    },
)

#: message-status ``status`` → ours. ``read`` (RCS/WhatsApp) implies delivery.
VONAGE_STATUSES: dict[str, DeliveryStatus] = {
    "submitted": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "rejected": DeliveryStatus.FAILED,
    "undeliverable": DeliveryStatus.UNDELIVERED,
}

#: Inbound MMS message types that carry one ``{"url", "caption"}`` object under the same key.
MEDIA_TYPES = ("image", "audio", "video", "file", "vcard")

#: SMS ``text``: up to 1000 characters.
MAX_SMS_TEXT = 1000
#: MMS ``caption``: up to 2000 characters.
MAX_MMS_CAPTION = 2000
#: ``client_ref``: up to 100 characters.
MAX_CLIENT_REF = 100
#: Signed more than five minutes before or after now: refused as a replay.
IAT_TOLERANCE = 300


class VonageAdapter(CarrierAdapter):
    """Vonage: API key/secret (Basic) for sending, the signature secret for the webhooks' JWT."""

    provider: ClassVar[str] = "vonage"
    display_name: ClassVar[str] = "Vonage"
    default_base_url: ClassVar[str] = "https://api.nexmo.com"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("api_key", required=True, secret=False, help="API key (Dashboard, API Settings)"),
        CredentialField("api_secret", required=True, secret=True, help="API secret (Dashboard, API Settings)"),
        CredentialField(
            "signature_secret",
            required=True,
            secret=True,
            help="signature secret that signs webhooks (Dashboard, API Settings, Signed webhooks)",
        ),
    )
    webhook_auth: ClassVar[str] = (
        "signed JWT (Authorization: Bearer, HS256 with the account's signature secret); its payload_hash must "
        "be the SHA-256 of the body and its iat within 300 s of now"
    )

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /v1/messages``: ``text`` on the sms channel, or the media on the mms channel.

        One picture (or clip, file…) is an ``image``/``video``/… message with the text as caption; several
        are one ``content`` message, the text the caption of the first.
        """
        check_limits(message, carrier=self.provider)
        body: dict[str, Any] = {"to": _digits(message.to_numbers[0]), "from": _digits(message.from_number)}
        if not message.media_urls:
            body |= {"channel": "sms", "message_type": "text", "text": message.text}
        elif len(message.media_urls) == 1:
            kind = media_type(message.media_urls[0])
            body |= {"channel": "mms", "message_type": kind, kind: _media_object(message.media_urls[0], message.text)}
        else:
            content = [
                {"type": media_type(url), **_media_object(url, message.text if index == 0 else "")}
                for index, url in enumerate(message.media_urls)
            ]
            body |= {"channel": "mms", "message_type": "content", "content": content}
        if message.reference:
            body["client_ref"] = message.reference[:MAX_CLIENT_REF]
        auth = (self.credentials["api_key"], self.credentials["api_secret"])
        return self.basic_auth_request("POST", "/v1/messages", auth, json=body)

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``202 Accepted`` with ``{"message_uuid"}``; that is all a send answers."""
        body = response_json(response)
        message_uuid = body.get("message_uuid") if isinstance(body, dict) else None
        if not isinstance(message_uuid, str) or not message_uuid:
            raise self.unusable_answer(response, "accepted the message but its answer has no message_uuid")
        return SendResult(message_uuid, DeliveryStatus.QUEUED, body)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """RFC 7807 ``{"type": "…#1150", "title", "detail", "invalid_parameters"}``; the code is the type's anchor."""
        body = response_json(response)
        if not isinstance(body, dict):
            return ErrorDetail(code=None, text=None)
        if isinstance(body.get("Error"), str):
            # What Vonage's gateway answers for 429 and 5xx: {"Error": "Too Many Requests"}.
            return ErrorDetail(code=None, text=body["Error"] or None)
        error_type = body.get("type")
        code = urlsplit(error_type).fragment if isinstance(error_type, str) else ""
        parts = [body.get("title"), body.get("detail")]
        invalid = body.get("invalid_parameters")
        if isinstance(invalid, list):
            parts += [f"{item.get('name')}: {item.get('reason')}" for item in invalid if isinstance(item, dict)]
        text = ": ".join(part for part in parts if isinstance(part, str) and part)
        return ErrorDetail(code=code or None, text=text or None)

    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """The Bearer JWT must be HS256 by our signature secret, fresh, and hash exactly this body."""
        verify_signed_webhook(
            self.credentials["signature_secret"].encode(), request, now=time.time() if now is None else now
        )

    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """One event per webhook: a message-status has ``status``, an inbound-message has ``message_type``."""
        event = vonage_event(json_object(request.body))
        return [] if event is None else [event]


def check_limits(message: OutboundMessage, *, carrier: str) -> None:
    """Raise a permanent :class:`CarrierError` for a message Vonage documents it refuses."""
    check_send_limits(message, carrier)
    if not message.media_urls and not message.text:
        raise CarrierError("an SMS needs text", carrier=carrier)
    limit = MAX_MMS_CAPTION if message.media_urls else MAX_SMS_TEXT
    if len(message.text) > limit:
        raise CarrierError(f"text is longer than {limit} characters", carrier=carrier)


def media_type(url: str) -> str:
    """The Messages API media type for a URL, from its file extension; ``image`` when it has none we know."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    if guessed in ("text/vcard", "text/x-vcard"):
        return "vcard"
    major = (guessed or "image/").split("/")[0]
    return major if major in ("image", "audio", "video") else "file"


def verify_signed_webhook(secret: bytes, request: WebhookRequest, *, now: float) -> None:
    """Raise :class:`WebhookAuthError` unless ``request`` carries Vonage's signed JWT for this exact body."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise WebhookAuthError("no Bearer JWT in Authorization", status_code=401)
    claims = verify_hs256(token.strip(), secret)
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        raise WebhookAuthError("the JWT has no iat", status_code=403)
    if abs(now - issued) > IAT_TOLERANCE:
        raise WebhookAuthError(
            f"issued {int(now - issued)} s from now, outside ±{IAT_TOLERANCE} s (replayed, or clock skew)",
            status_code=403,
        )
    expires = claims.get("exp")
    if isinstance(expires, int | float) and not isinstance(expires, bool) and expires < now:
        raise WebhookAuthError("the JWT has expired", status_code=403)
    payload_hash = claims.get("payload_hash")
    if not isinstance(payload_hash, str) or not hmac.compare_digest(
        payload_hash.lower().encode(), hashlib.sha256(request.body).hexdigest().encode()
    ):
        raise WebhookAuthError("the JWT's payload_hash is not the body's SHA-256", status_code=403)


def verify_hs256(token: str, secret: bytes) -> dict[str, Any]:
    """The claims of a compact JWT after checking its HS256 signature with ``secret``.

    Raises :class:`WebhookAuthError` (403) for anything but a well-formed, correctly signed HS256 token;
    the header's ``alg`` must be HS256 (never ``none`` or another algorithm).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise WebhookAuthError("the JWT is not three base64url parts", status_code=403)
    header_part, claims_part, signature_part = parts
    try:
        header = json.loads(_b64url(header_part))
        claims = json.loads(_b64url(claims_part))
        signature = _b64url(signature_part)
    except (ValueError, RecursionError) as err:
        raise WebhookAuthError("the JWT is not readable", status_code=403) from err
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise WebhookAuthError("the JWT is not an HS256 token", status_code=403)
    expected = hmac.new(secret, f"{header_part}.{claims_part}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise WebhookAuthError("the JWT's signature is not by our signature secret", status_code=403)
    return claims


def vonage_event(webhook: VonageWebhook | dict[str, Any]) -> InboundMessage | StatusUpdate | None:
    """Our event for one Vonage webhook body; None for inbound messages of other channels or types.

    Raises :class:`WebhookParseError` when a field we need is missing or of the wrong type.
    """
    message_uuid = require_string(webhook.get("message_uuid"), "message_uuid")
    occurred_at = parse_timestamp(webhook.get("timestamp"))
    if "status" in webhook:
        status = webhook.get("status")
        ours = DeliveryStatus.UNKNOWN
        if isinstance(status, str):
            ours = VONAGE_STATUSES.get(status, DeliveryStatus.UNKNOWN)
        error = webhook.get("error")
        failed = ours in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.UNKNOWN)
        error = error if failed and isinstance(error, dict) else {}
        title, detail = error.get("title"), error.get("detail")
        return StatusUpdate(
            carrier_message_id=message_uuid,
            status=ours,
            error_code=str(title) if isinstance(title, str | int) and not isinstance(title, bool) else None,
            error_text=detail if isinstance(detail, str) and detail else None,
            occurred_at=occurred_at,
            raw=dict(webhook),
        )
    if webhook.get("channel") not in ("sms", "mms"):
        return None
    message_type = webhook.get("message_type")
    if message_type == "text":
        text, media = webhook.get("text"), ()
    elif message_type in MEDIA_TYPES:
        item = require_object(webhook.get(message_type), message_type)
        text = item.get("caption", "")
        media = (InboundMedia(require_string(item.get("url"), f"{message_type}.url"), None),)
    else:
        return None
    if not isinstance(text, str):
        raise WebhookParseError("the message text is not a string")
    return InboundMessage(
        carrier_message_id=message_uuid,
        from_number=require_string(webhook.get("from"), "from"),
        to_numbers=(require_string(webhook.get("to"), "to"),),
        text=text,
        media=media,
        received_at=occurred_at,
        raw=dict(webhook),
    )


def _digits(number: str) -> str:
    # The Messages API wants E.164 without the leading + (or 00); alphanumeric senders pass unchanged.
    return number[1:] if number.startswith("+") else number


def _media_object(url: str, caption: str) -> dict[str, str]:
    return {"url": url, "caption": caption} if caption else {"url": url}


def _b64url(part: str) -> bytes:
    # JWTs drop base64 padding; binascii.Error and non-ASCII input are both ValueErrors.
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
