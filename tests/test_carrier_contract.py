"""The carrier contract: written once, run for every carrier in ``tests/carrier_cases``.

Sends go to a real HTTP server on loopback that checks method, path, authentication and body; webhooks are
the carriers' own documented payloads, byte for byte, authenticated as the carrier does it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fspbx_sms.carriers import (
    PROVIDERS,
    CarrierAdapter,
    CarrierConfigError,
    CarrierError,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
)
from tests.carrier_cases import CarrierCase, Inbound, Status, all_cases, api_fixture

CASES = all_cases()
SMS = OutboundMessage(from_number="+15551234567", to_numbers=("+15559876543",), text="Hello, world! ✓", reference="1")


@pytest.fixture(params=CASES, ids=[case.provider for case in CASES])
def case(request) -> CarrierCase:
    """One carrier."""
    return request.param


api = api_fixture()


@pytest.fixture
def adapter(case: CarrierCase, api: HTTPServer) -> Iterator[CarrierAdapter]:
    """The case's adapter pointed at the fake API, with short timeouts."""
    instance = case.api_adapter(api)
    yield instance
    instance.close()


def _answer(answer) -> Response:
    status, headers, body = answer
    return Response(body, status=status, headers=headers)


def test_every_carrier_is_registered_with_its_description(case):
    """The registry knows it; it says which webhook authentication applies and what each credential is."""
    assert PROVIDERS[case.provider] is case.adapter_class
    assert case.adapter_class.webhook_auth
    assert all(field.help for field in case.adapter_class.credential_fields)


def test_a_missing_required_credential_is_named(case):
    """Leaving out any required credential raises CarrierConfigError naming it."""
    for field in case.adapter_class.credential_fields:
        if field.required:
            credentials = case.credentials()
            del credentials[field.name]
            with pytest.raises(CarrierConfigError) as refused:
                case.adapter_class(credentials)
            assert refused.value.setting == field.name


@pytest.mark.parametrize("kind", ["sms", "mms"])
def test_send_is_the_documented_request_and_returns_the_carriers_id(case, api, adapter, kind):
    """Method, path, auth and fields as documented; the carrier's message id comes back."""
    message = SMS if kind == "sms" else case.mms
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return _answer(case.send_ok("msg-0001-contract"))

    api.expect_request(case.send_path, method=case.send_method).respond_with_handler(handler)
    result = adapter.send(message)
    assert result.carrier_message_id == "msg-0001-contract"
    assert len(seen) == 1
    case.check_send_request(seen[0], message)


def test_permanent_error_keeps_the_carriers_code_and_is_not_retried(case, api, adapter):
    """An invalid number (or the like) fails for good with the carrier's code and text."""
    api.expect_request(case.send_path, method=case.send_method).respond_with_response(
        _answer(case.send_error("permanent"))
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable
    assert failed.value.code == case.permanent_error_code
    assert failed.value.carrier == case.provider


@pytest.mark.parametrize(("kind", "retry_after"), [("retryable", None), ("rate_limited", 7.0)])
def test_server_errors_and_rate_limits_are_retried(case, api, adapter, kind, retry_after):
    """5xx and 429 are retryable; 429 honours Retry-After."""
    api.expect_request(case.send_path, method=case.send_method).respond_with_response(_answer(case.send_error(kind)))
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert failed.value.retryable
    assert failed.value.retry_after == retry_after


def test_connection_refused_is_retried(case):
    """Nothing listening: retry later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = case.adapter(f"http://127.0.0.1:{port}", timeout=(1.0, 1.0))
    try:
        with pytest.raises(CarrierError) as failed:
            adapter.send(SMS)
    finally:
        adapter.close()
    assert failed.value.retryable


def _summary(event: InboundMessage | StatusUpdate) -> Inbound | Status:
    if isinstance(event, InboundMessage):
        return Inbound(event.carrier_message_id, event.from_number, event.to_numbers, event.text,
                       tuple(media.url for media in event.media))
    return Status(event.carrier_message_id, event.status, event.error_code)


def _fixture_params():
    return [pytest.param(case, name, expected, id=f"{case.provider}-{name}")
            for case in CASES for name, expected in case.fixtures]


@pytest.mark.parametrize(("case", "name", "expected"), _fixture_params())
def test_every_documented_webhook_becomes_the_right_events(case, name, expected):
    """Each byte-exact documented payload, authenticated as the carrier does, gives exactly these events."""
    adapter = case.adapter()
    try:
        events = adapter.handle_webhook(case.webhook(case.payload(name)))
    finally:
        adapter.close()
    assert tuple(_summary(event) for event in events) == expected
    assert all(event.raw for event in events)


def test_forged_webhook_is_refused(case):
    """Authentication made without the account's secret: 401/403."""
    name = case.fixtures[0][0]
    adapter = case.adapter()
    try:
        with pytest.raises(WebhookAuthError) as refused:
            adapter.handle_webhook(case.forged(case.payload(name)))
    finally:
        adapter.close()
    assert refused.value.status_code in (401, 403)


def test_replayed_webhook_is_refused_where_the_carrier_signs_a_time(case):
    """A correctly signed but old request: refused (carriers without timestamps rely on idempotency)."""
    replay = case.replayed(case.payload(case.fixtures[0][0]))
    if replay is None:
        pytest.skip(f"{case.provider} signs no timestamp; repeated carrier message ids are ignored by the core")
    adapter = case.adapter()
    try:
        with pytest.raises(WebhookAuthError):
            adapter.handle_webhook(replay)
    finally:
        adapter.close()


@pytest.mark.parametrize("carrier_status", ["teleported", "", "SOMETHING_NEW_2027"])
def test_an_unknown_carrier_status_is_unknown_never_an_error(case, carrier_status):
    """Statuses the carrier adds later map to ``unknown``."""
    adapter = case.adapter()
    try:
        events = adapter.handle_webhook(case.webhook(case.status_body(carrier_status, "msg-unknown-status")))
    finally:
        adapter.close()
    assert [(e.carrier_message_id, e.status) for e in events] == [("msg-unknown-status", DeliveryStatus.UNKNOWN)]


@pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2048))
def test_any_authentic_bytes_give_events_or_a_parse_error(case, body):
    """Fuzz: whatever a correctly authenticated request carries, the parser answers events or WebhookParseError."""
    adapter = case.adapter()
    try:
        events = adapter.handle_webhook(case.webhook(body))
    except WebhookParseError:
        return
    finally:
        adapter.close()
    assert all(isinstance(event, InboundMessage | StatusUpdate) for event in events)


def test_credentials_check_calls_the_carrier_where_it_can(case, api, adapter):
    """The settings page's "test" button: an authenticated GET the carrier answers 200 for good credentials, and
    a clear refusal for 401; carriers without such a call say so (False), never guess."""
    request = adapter.check_request()
    if request is None:
        assert adapter.check_online() is False
        return
    assert request.method == "GET"
    path = urlsplit(request.url).path
    seen: list[Request] = []

    def accept(incoming: Request) -> Response:
        seen.append(incoming)
        return Response("{}", status=200, content_type="application/json")

    api.expect_oneshot_request(path, method="GET").respond_with_handler(accept)
    assert adapter.check_online() is True
    assert seen and seen[0].headers.get("Authorization")
    api.expect_oneshot_request(path, method="GET").respond_with_data("{}", status=401)
    with pytest.raises(CarrierError) as refused:
        adapter.check_online()
    assert refused.value.status_code == 401 and not refused.value.retryable
