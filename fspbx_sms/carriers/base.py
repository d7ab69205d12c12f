"""The carrier adapter interface and the common model every carrier is translated into.

A carrier adapter is a pure translator: it turns our :class:`OutboundMessage` into the carrier's HTTP
request, and the carrier's webhooks into :class:`InboundMessage` and :class:`StatusUpdate` events. It
holds no database and no global state; the core persists what it returns.

:class:`CarrierAdapter` is a template: the base class owns HTTP (one ``requests.Session`` per adapter,
timeouts, error wrapping and retry hints) and the webhook sequence (verify, then parse); each carrier
module fills in the methods marked "subclasses implement".
"""

from __future__ import annotations

import hmac
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

#: How much of a carrier's error body a :class:`CarrierError` keeps.
RESPONSE_TEXT_LIMIT = 2000


class DeliveryStatus(StrEnum):
    """Where a message stands, in our words; every carrier status maps to one of these."""

    #: Accepted by us or by the carrier, not yet handed on.
    QUEUED = "queued"
    #: Handed to the next network (carrier accepted it); not proof of delivery.
    SENT = "sent"
    #: The handset (or the carrier on its behalf) confirmed delivery.
    DELIVERED = "delivered"
    #: Never left: refused or dropped before reaching the destination network.
    FAILED = "failed"
    #: Sent, but the destination network reported it could not deliver.
    UNDELIVERED = "undelivered"
    #: A status we do not recognise; never guessed into one of the others.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CredentialField:
    """One credential an adapter takes, as shown by the CLI and the settings page."""

    name: str
    required: bool
    secret: bool
    help: str


@dataclass(frozen=True)
class OutboundMessage:
    """A text (with optional media) to send through a carrier."""

    from_number: str
    to_numbers: tuple[str, ...]
    text: str
    media_urls: tuple[str, ...] = ()
    #: Our message id, for logs only.
    reference: str = ""


@dataclass(frozen=True)
class SendResult:
    """The carrier's answer to a send: its message id and the status it reported."""

    carrier_message_id: str
    status: DeliveryStatus
    raw: dict[str, Any]


@dataclass(frozen=True)
class InboundMedia:
    """One media attachment of an inbound MMS, still at the carrier's URL."""

    url: str
    content_type: str | None


@dataclass(frozen=True)
class InboundMessage:
    """A text someone sent to one of our numbers."""

    carrier_message_id: str
    from_number: str
    #: Our number first as the carrier gave it, then any other recipients of a group message.
    to_numbers: tuple[str, ...]
    text: str
    media: tuple[InboundMedia, ...]
    received_at: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery report for a message we sent."""

    carrier_message_id: str
    status: DeliveryStatus
    error_code: str | None
    error_text: str | None
    occurred_at: datetime | None
    raw: dict[str, Any]


class Headers(Mapping[str, str]):
    """A read-only header mapping whose lookups ignore case, as HTTP header names do."""

    def __init__(self, headers: Mapping[str, str] | None = None):
        items = headers.items() if headers is not None else ()
        self._items = {name.lower(): (name, value) for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request a carrier made to our webhook URL, as received (the body is the raw bytes)."""

    method: str
    url: str
    #: Looked up case-insensitively, whatever mapping is passed in.
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", Headers(self.headers))


class CarrierError(Exception):
    """A send failed; says whether trying again later can help.

    ``retryable`` is true for connection failures, timeouts, rate limits and server errors;
    ``retry_after`` is how many seconds the carrier asked us to wait, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        carrier: str,
        status_code: int | None = None,
        code: str | None = None,
        response_text: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.carrier = carrier
        self.message = message
        self.status_code = status_code
        self.code = code
        self.response_text = response_text
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.carrier}:"]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.code:
            parts.append(f"[{self.code}]")
        parts.append(self.message)
        return " ".join(parts)


class CarrierConfigError(Exception):
    """A carrier account is set up wrongly; ``setting`` names what to fix."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


class WebhookAuthError(Exception):
    """A webhook failed authentication; answer it with ``status_code`` (401 or 403)."""

    def __init__(self, message: str, status_code: int = 403):
        if status_code not in (401, 403):
            raise ValueError(f"webhook authentication failures are 401 or 403, not {status_code}")
        super().__init__(message)
        self.status_code = status_code


class WebhookParseError(Exception):
    """A webhook's body is not what the carrier documents; answer it with 400."""


@dataclass(frozen=True)
class ErrorDetail:
    """What a carrier's error body says: its code and text, and whether it marks the error retryable.

    ``retryable`` is None when the body does not say; the HTTP status decides then.
    """

    code: str | None
    text: str | None
    retryable: bool | None = None


class CarrierAdapter(ABC):
    """The base of every carrier adapter; one instance per carrier account.

    Subclasses implement :meth:`build_send_request`, :meth:`parse_send_response`, :meth:`describe_error`,
    :meth:`verify` and :meth:`parse`, and may extend :meth:`check_credentials`. The base owns
    :meth:`send`, :meth:`handle_webhook`, :meth:`validate_credentials` and :meth:`close`: do not override.
    """

    #: Registry key and the ``<provider>`` of our webhook URL, e.g. ``"telnyx"``.
    provider: ClassVar[str]
    #: The carrier's name for people.
    display_name: ClassVar[str]
    #: The credentials the account takes; every adapter also accepts an optional ``base_url``.
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    #: Which webhook authentication applies, for people setting the account up.
    webhook_auth: ClassVar[str]
    #: The carrier's API root; the ``base_url`` credential replaces it.
    default_base_url: ClassVar[str]

    #: True for carriers whose only webhook protection is a secret we put in the webhook URL (``?secret=``).
    url_secret: ClassVar[bool] = False
    #: The carrier's error codes meaning "the recipient opted out" (the core then stops texting them).
    opt_out_codes: ClassVar[frozenset[str]] = frozenset()
    #: What our 200 answer to a webhook carries: content type and body (TwiML-style carriers want XML).
    webhook_ack: ClassVar[tuple[str, bytes]] = ("application/json", b'{"ok": true}')

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        webhook_secret: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
    ):
        self.credentials = self.validate_credentials(credentials)
        #: Our random per-account secret, for carriers with :attr:`url_secret`.
        self.webhook_secret = webhook_secret
        self.base_url = self.credentials.get("base_url", self.account_base_url()).rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"fspbx-sms ({self.provider})"

    # -- credentials (base owns) ---------------------------------------------------------------------

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """Check ``credentials`` against :attr:`credential_fields`; return them trimmed, empties dropped.

        Raises :class:`CarrierConfigError` naming the first missing, unknown or malformed key.
        """
        known = {f.name: f for f in cls.credential_fields}
        cleaned: dict[str, str] = {}
        for name, value in credentials.items():
            if name not in known and name != "base_url":
                allowed = ", ".join([*known, "base_url"])
                raise CarrierConfigError(name, f"{cls.display_name} has no credential {name!r} (known: {allowed})")
            if not isinstance(value, str):
                raise CarrierConfigError(name, f"{cls.display_name} credential {name!r} must be text")
            if value.strip():
                cleaned[name] = value.strip()
        for f in cls.credential_fields:
            if f.required and f.name not in cleaned:
                raise CarrierConfigError(f.name, f"{cls.display_name} needs {f.name!r}: {f.help}")
        check_http_url(cleaned, "base_url")
        return cls.check_credentials(cleaned)

    @classmethod
    def check_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Subclasses may override: check (or normalise) carrier-specific values; all required ones are there.

        Raise :class:`CarrierConfigError` naming the bad key; never put a secret value in the message.
        """
        return credentials

    def account_base_url(self) -> str:
        """Subclasses may override: this account's API root when no ``base_url`` credential replaces it."""
        return self.default_base_url

    # -- sending: subclasses implement ------------------------------------------------------------------

    @abstractmethod
    def build_send_request(self, message: OutboundMessage) -> requests.Request:
        """Subclasses implement: the carrier's HTTP request that sends ``message`` (URL under base_url)."""

    @abstractmethod
    def parse_send_response(self, response: requests.Response) -> SendResult:
        """Subclasses implement: read a 2xx send response; raise :class:`CarrierError` if it is unusable."""

    @abstractmethod
    def describe_error(self, response: requests.Response) -> ErrorDetail:
        """Subclasses implement: the carrier's code and text from a non-2xx response; never raises."""

    # -- sending: base owns (do not override) ------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendResult:
        """Send ``message``; raise :class:`CarrierError` saying whether a retry can help."""
        prepared = self.session.prepare_request(self.build_send_request(message))
        # Proxy and CA-bundle settings from the environment, as requests.request() would apply them.
        environment = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
        try:
            response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False, **environment)
        except requests.Timeout as err:
            connect, read = self.timeout
            raise CarrierError(
                f"timed out (connect {connect} s, read {read} s)", carrier=self.provider, retryable=True
            ) from err
        except requests.ConnectionError as err:
            raise CarrierError(
                f"cannot connect to {urlsplit(self.base_url).netloc}", carrier=self.provider, retryable=True
            ) from err
        except requests.RequestException as err:
            raise CarrierError(f"request failed: {type(err).__name__}", carrier=self.provider) from err
        with response:
            log.debug("%s send %s: HTTP %s", self.provider, message.reference, response.status_code)
            if 200 <= response.status_code < 300:
                return self.parse_send_response(response)
            raise self._error_from(response)

    def unusable_answer(self, response: requests.Response, problem: str) -> CarrierError:
        """Base owns: the permanent error for a 2xx answer we cannot use (retrying could send the text twice)."""
        return CarrierError(
            problem,
            carrier=self.provider,
            status_code=response.status_code,
            response_text=response.text[:RESPONSE_TEXT_LIMIT],
        )

    def basic_auth_request(self, method: str, path: str, auth: tuple[str, str], **kwargs: Any) -> requests.Request:
        """Base owns: ``method`` on ``path`` under :attr:`base_url` with HTTP Basic ``auth``, accepting JSON.

        ``kwargs`` (``data``, ``json``, ``files``) go to :class:`requests.Request` as they are.
        """
        return requests.Request(
            method, f"{self.base_url}{path}", auth=auth, headers={"Accept": "application/json"}, **kwargs
        )

    def _error_from(self, response: requests.Response) -> CarrierError:
        detail = self.describe_error(response)
        status = response.status_code
        retryable = detail.retryable
        if retryable is None:
            retryable = status in (408, 429) or status >= 500
        return CarrierError(
            detail.text or response.reason or "request refused",
            carrier=self.provider,
            status_code=status,
            code=detail.code,
            response_text=response.text[:RESPONSE_TEXT_LIMIT],
            retryable=retryable,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")) if retryable else None,
        )

    def check_request(self) -> requests.Request | None:
        """Subclasses may override: a harmless authenticated GET that proves the credentials; None if none."""
        return None

    def check_online(self) -> bool:
        """Base owns: try :meth:`check_request` on the carrier; False when the carrier offers no such check.

        Raises :class:`CarrierError` saying why the carrier refused (wrong credentials: 401/403) or could not
        be reached.
        """
        request = self.check_request()
        if request is None:
            return False
        prepared = self.session.prepare_request(request)
        try:
            response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as err:
            raise CarrierError(
                f"cannot reach the API: {type(err).__name__}", carrier=self.provider, retryable=True
            ) from err
        with response:
            if response.status_code in (401, 403):
                raise CarrierError(
                    "the carrier refused these credentials", carrier=self.provider, status_code=response.status_code
                )
            if not 200 <= response.status_code < 300:
                raise self._error_from(response)
        return True

    def media_request(self, url: str) -> requests.Request:
        """Subclasses may override: the GET that downloads an inbound media URL (adding the carrier's auth)."""
        return requests.Request("GET", url)

    def download_media(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """Base owns: fetch an inbound media URL; its bytes and the content type the server claimed.

        Raises :class:`CarrierError`: retryable for timeouts, connection failures, 408/429/5xx; permanent for
        other refusals and for files larger than ``max_bytes``.
        """
        prepared = self.session.prepare_request(self.media_request(url))
        try:
            with self.session.send(prepared, timeout=self.timeout, stream=True, allow_redirects=True) as response:
                if response.status_code >= 400:
                    retryable = response.status_code in (408, 429) or response.status_code >= 500
                    raise CarrierError(
                        f"media download refused: HTTP {response.status_code}",
                        carrier=self.provider,
                        status_code=response.status_code,
                        retryable=retryable,
                    )
                data = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise CarrierError(f"media larger than {max_bytes} bytes", carrier=self.provider)
                return bytes(data), response.headers.get("Content-Type", "")
        except requests.RequestException as err:
            raise CarrierError(
                f"media download failed: {type(err).__name__}", carrier=self.provider, retryable=True
            ) from err

    # -- webhooks: subclasses implement -------------------------------------------------------------

    @abstractmethod
    def verify(self, request: WebhookRequest, *, now: float | None = None) -> None:
        """Subclasses implement: raise :class:`WebhookAuthError` unless the carrier really sent ``request``.

        ``now`` (Unix seconds) replaces the clock, for replay windows. Compare secrets in constant time.
        """

    @abstractmethod
    def parse(self, request: WebhookRequest) -> list[InboundMessage | StatusUpdate]:
        """Subclasses implement: the events in ``request``; raise :class:`WebhookParseError` and nothing else.

        Events we do not handle are left out (an empty list); unknown statuses map to ``unknown``.
        """

    # -- webhooks: base owns (do not override) ------------------------------------------------------

    @classmethod
    def webhook_url(cls, public_url: str, account_id: int, webhook_secret: str) -> str:
        """The URL to give the carrier for one account's webhooks (with the secret when :attr:`url_secret`)."""
        url = f"{public_url.rstrip('/')}/webhooks/{cls.provider}/{account_id}"
        return f"{url}?secret={webhook_secret}" if cls.url_secret else url

    def verify_url_secret(self, request: WebhookRequest) -> None:
        """For :attr:`url_secret` carriers: the URL's ``secret`` must be this account's, compared in constant time."""
        given = request.query.get("secret", "")
        if not given:
            raise WebhookAuthError("the webhook URL has no secret", status_code=401)
        if not self.webhook_secret or not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            raise WebhookAuthError("the webhook URL's secret is wrong")

    def handle_webhook(
        self, request: WebhookRequest, *, now: float | None = None
    ) -> list[InboundMessage | StatusUpdate]:
        """Verify ``request``, then parse it: :class:`WebhookAuthError` or :class:`WebhookParseError`."""
        self.verify(request, now=now)
        return self.parse(request)

    def close(self) -> None:
        """Release the HTTP session's connections."""
        self.session.close()


def check_http_url(credentials: Mapping[str, str], name: str) -> None:
    """Raise :class:`CarrierConfigError` unless the credential ``name``, when given, is an http(s) URL."""
    if name not in credentials:
        return
    url = urlsplit(credentials[name])
    if url.scheme not in ("http", "https") or not url.netloc:
        raise CarrierConfigError(name, f"{name} must be an http:// or https:// URL")


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date; None if absent or bad."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
