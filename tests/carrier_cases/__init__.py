"""What the shared carrier contract suite needs to know about each carrier: one ``CarrierCase`` per module.

Every module in this package (except this one) defines ``CASE``, an instance of a :class:`CarrierCase`
subclass; :func:`all_cases` finds them, and ``tests/test_carrier_contract.py`` runs every contract test for
every case. The helpers below it (fixtures for the fake carrier API, Basic auth, posted webhooks) serve the
carrier test modules too.
"""

from __future__ import annotations

import base64
import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fspbx_sms.carriers import CarrierAdapter, CarrierError, DeliveryStatus, OutboundMessage, WebhookRequest

PAYLOADS = Path(__file__).parent.parent / "payloads"

#: One HTTP answer the fake carrier API gives: status, headers, body bytes.
Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Inbound:
    """The fields of an expected :class:`InboundMessage` the contract checks."""

    carrier_message_id: str
    from_number: str
    to_numbers: tuple[str, ...]
    text: str
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """The fields of an expected :class:`StatusUpdate` the contract checks."""

    carrier_message_id: str
    status: DeliveryStatus
    error_code: str | None = None


class CarrierCase(ABC):
    """One carrier, as the contract suite drives it. Subclasses fill in every abstract member."""

    #: Registry key, e.g. ``"telnyx"``.
    provider: str
    adapter_class: type[CarrierAdapter]
    #: Our random per-account secret (used by carriers with ``url_secret``).
    webhook_secret: str = "url-secret-6b1f0c2e9a"
    #: HTTP method and path (on the fake API) of a send.
    send_method: str = "POST"
    send_path: str
    #: The carrier's code in :meth:`send_error` ``("permanent")``, kept on the CarrierError.
    permanent_error_code: str | None
    #: An MMS within the carrier's documented limits (media count, text beside media) for the send test.
    mms: OutboundMessage = OutboundMessage(
        from_number="+15551234567",
        to_numbers=("+15559876543",),
        text="Look at this",
        media_urls=("https://sms.example.com/media/abc?sig=1", "https://sms.example.com/media/def?sig=2"),
        reference="2",
    )
    #: Documented webhook fixtures (file names under ``tests/payloads/<provider>/``) and what each must give.
    fixtures: tuple[tuple[str, tuple[Inbound | Status, ...]], ...]

    @property
    def payload_dir(self) -> Path:
        """Where this carrier's byte-exact documented payloads live."""
        return PAYLOADS / self.provider

    def payload(self, name: str) -> bytes:
        """The exact bytes of one fixture file."""
        return (self.payload_dir / name).read_bytes()

    def adapter(self, base_url: str | None = None, **kwargs) -> CarrierAdapter:
        """An adapter for this case's account, talking to ``base_url`` when given."""
        return self.adapter_class(self.credentials(base_url), webhook_secret=self.webhook_secret, **kwargs)

    def api_adapter(self, api: HTTPServer, **changes: str) -> CarrierAdapter:
        """An adapter talking to the fake carrier API ``api`` with short timeouts; ``changes`` to its credentials."""
        credentials = {**self.credentials(api.url_for("/").rstrip("/")), **changes}
        return self.adapter_class(credentials, webhook_secret=self.webhook_secret, timeout=(1.0, 2.0))

    def credentials(self, base_url: str | None = None) -> dict[str, str]:
        """Valid credentials (with ``base_url`` when given)."""
        credentials = self.account_credentials()
        if base_url:
            credentials["base_url"] = base_url
        return credentials

    @abstractmethod
    def account_credentials(self) -> dict[str, str]:
        """The account's valid credentials, a new dict each time (without ``base_url``)."""

    @abstractmethod
    def check_send_request(self, request: Request, message: OutboundMessage) -> None:
        """Assert that ``request`` (what reached the fake API) is the carrier's documented send of ``message``:
        authentication header, content type, every field name and value (media URLs included)."""

    @abstractmethod
    def send_ok(self, message_id: str) -> Answer:
        """The carrier's documented success answer to a send, carrying ``message_id``."""

    @abstractmethod
    def send_error(self, kind: str) -> Answer:
        """A documented error answer: ``"permanent"`` (e.g. invalid number), ``"retryable"`` (5xx), or
        ``"rate_limited"`` (429 with ``Retry-After: 7``)."""

    @abstractmethod
    def webhook(self, body: bytes, *, content_type: str | None = None) -> WebhookRequest:
        """``body`` as the carrier would deliver it to our webhook URL now, correctly authenticated."""

    @abstractmethod
    def forged(self, body: bytes) -> WebhookRequest:
        """``body`` with authentication made by someone without the account's secret or key."""

    @abstractmethod
    def replayed(self, body: bytes) -> WebhookRequest | None:
        """``body`` authenticated correctly but long ago (a replay); None when the carrier's scheme has no
        timestamp to check (our idempotency on carrier message ids then stops replays)."""

    @abstractmethod
    def status_body(self, carrier_status: str, message_id: str) -> bytes:
        """A documented status callback body for ``message_id``, with ``carrier_status`` put in."""


def all_cases() -> list[CarrierCase]:
    """Every carrier case in this package, in provider order."""
    cases = []
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        cases.append(importlib.import_module(f"{__name__}.{module.name}").CASE)
    return sorted(cases, key=lambda case: case.provider)


def basic(username: str, password: str) -> str:
    """An ``Authorization`` header value for HTTP Basic credentials."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def posted(url: str, body: bytes, headers: dict[str, str], secret: str | None = None) -> WebhookRequest:
    """``body`` POSTed to our webhook ``url`` with ``headers``; with ``secret``, in the URL as ``?secret=``."""
    query = {} if secret is None else {"secret": secret}
    url = url if secret is None else f"{url}?secret={secret}"
    return WebhookRequest(method="POST", url=url, headers=headers, query=query, body=body)


def capture(api: HTTPServer, path: str, answer: Answer) -> list[Request]:
    """Have the fake API give ``answer`` to every POST to ``path``; the list collects those requests."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        status, headers, body = answer
        return Response(body, status=status, headers=headers)

    api.expect_request(path, method="POST").respond_with_handler(handler)
    return seen


def refused_before_sending(api: HTTPServer, adapter: CarrierAdapter, message: OutboundMessage) -> CarrierError:
    """The permanent :class:`CarrierError` ``adapter`` raises for ``message`` without sending anything to ``api``."""
    with pytest.raises(CarrierError) as refused:
        adapter.send(message)
    assert not refused.value.retryable
    assert api.log == []
    return refused.value


def api_fixture():
    """A test module's ``api`` fixture (``api = api_fixture()``): the carrier's API played by a server on
    127.0.0.1; a request no test expected fails the test."""

    @pytest.fixture
    def api(httpserver_ipv4: HTTPServer) -> Iterator[HTTPServer]:
        """The carrier's API on 127.0.0.1."""
        yield httpserver_ipv4
        httpserver_ipv4.check_assertions()

    return api


def adapter_fixture(case: CarrierCase):
    """A test module's ``adapter`` fixture (``adapter = adapter_fixture(CASE)``): ``case``'s adapter talking to
    the module's ``api`` fixture."""

    @pytest.fixture
    def adapter(api: HTTPServer) -> Iterator[CarrierAdapter]:
        """An adapter talking to the fake API."""
        with closing(case.api_adapter(api)) as instance:
            yield instance

    return adapter


def hooks_fixture(case: CarrierCase):
    """A test module's ``hooks`` fixture (``hooks = hooks_fixture(CASE)``): ``case``'s adapter for webhooks only."""

    @pytest.fixture
    def hooks() -> Iterator[CarrierAdapter]:
        """An adapter for webhooks only."""
        with closing(case.adapter()) as instance:
            yield instance

    return hooks
