"""SignalWire Compatibility (cXML/LaML) API: send SMS/MMS, and read the form webhooks signed with the Signing Key.

Sending, statuses and errors: the Compatibility API reference (OpenAPI ``CreateMessageRequest``,
``MessageResponse``, ``MessageStatus``, ``CompatibilityErrorResponse``), https://signalwire.com/docs/compatibility-api
Status callback: https://signalwire.com/docs/compatibility-api/rest/messages/webhooks/sms-status-callback
Signatures: https://developer.signalwire.com/guides/webhook-security (the Compatibility SDK's
``validateRequest``: Twilio's scheme, keyed with the project's Signing Key)

SignalWire's webhook forms, signature and message resource are those of Twilio's API; this module reuses
``twilio.py`` for them, with SignalWire's own statuses and limits.
"""

from __future__ import annotations

import re
from typing import ClassVar

import requests

from fspbx_sms.carriers.base import (
    CarrierAdapter,
    CarrierConfigError,
    CredentialField,
    DeliveryStatus,
    ErrorDetail,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookAuthError,
    WebhookRequest,
    check_http_url,
)
from fspbx_sms.carriers.payload import code_text, response_json

# SignalWire's compatibility API speaks Twilio's protocol: same form posts and signature, same message resource.
from fspbx_sms.carriers.twilio import form_fields, form_of, message_resource, signature_matches, twilio_event

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

#: Error codes SignalWire shares with Twilio's API where a retry can help (too many requests, internal
#: error, service unavailable); the rest of a 4xx is permanent.
RETRYABLE_ERROR_CODES = frozenset({"20429", "20500", "20503"})

#: The create-message reference: "Body … Up to 1600 characters long."
MAX_BODY_CHARS = 1600

SIGNATURE_HEADERS = ("X-SignalWire-Signature", "X-Twilio-Signature")
PROJECT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SPACE_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


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

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """The Project ID is a UUID; the Space URL is a host name (``https://`` and a trailing ``/`` dropped)."""
        if not PROJECT_ID.fullmatch(credentials["project_id"]):
            raise CarrierConfigError("project_id", "project_id must be the Project ID, a UUID")
        space = credentials["space_url"].removeprefix("https://").rstrip("/")
        if not SPACE_HOST.fullmatch(space):
            raise CarrierConfigError("space_url", "space_url must be the Space's host, e.g. example.signalwire.com")
        check_http_url(credentials, "status_callback")
        return {**credentials, "space_url": space}

    def account_base_url(self) -> str:
        """The account's Space."""
        return f"https://{self.credentials['space_url']}"

    def check_request(self) -> requests.Request:
        """The project's account resource on the space (``GET /api/laml/2010-04-01/Accounts/{ProjectID}.json``)."""
        project = self.credentials["project_id"]
        auth = (project, self.credentials["api_token"])
        return self.basic_auth_request("GET", f"/api/laml/2010-04-01/Accounts/{project}.json", auth)

    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """``POST /api/laml/2010-04-01/Accounts/{ProjectID}/Messages.json``: To, From, Body, one MediaUrl each."""
        fields = form_fields(self.provider, message, max_text=MAX_BODY_CHARS, max_media=None)
        if "status_callback" in self.credentials:
            fields.append(("StatusCallback", self.credentials["status_callback"]))
        project = self.credentials["project_id"]
        auth = (project, self.credentials["api_token"])
        path = f"/api/laml/2010-04-01/Accounts/{project}/Messages.json"
        return self.basic_auth_request("POST", path, auth, data=fields)

    def parse_send_response(self, response: requests.Response) -> SendResult:
        """``sid`` is the message id; ``status`` is normally ``queued``."""
        return message_resource(self, response, SIGNALWIRE_STATUSES)

    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """``{"code", "message", "more_info", "status"}`` or ``{"errors": [{"code", "message"}]}``."""
        body = response_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else body
        if not isinstance(first, dict):
            return ErrorDetail(code=None, text=None)
        code = code_text(first.get("code"))
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
        event = twilio_event(form_of(request), SIGNALWIRE_STATUSES)
        return [] if event is None else [event]
