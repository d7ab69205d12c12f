"""The Telnyx adapter against a real HTTP server on loopback and Telnyx's documented payloads.

The tests take a ``carrier`` case (what they need to know about one carrier: credentials, send endpoint,
how to sign a webhook) so a contract suite can run them for every carrier by adding cases.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey
from pytest_httpserver import HTTPServer
from werkzeug import Response

from fspbx_sms.carriers import (
    PROVIDERS,
    CarrierAdapter,
    CarrierConfigError,
    CarrierError,
    DeliveryStatus,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
    get_adapter_class,
)
from fspbx_sms.carriers.telnyx import TELNYX_STATUSES, TelnyxAdapter
from tests.carrier_cases import api_fixture

PAYLOADS = Path(__file__).parent / "payloads" / "telnyx"
#: A fixed "now" for webhook checks (Unix seconds), so replay windows are tested without the clock.
NOW = 1_705_354_334


def payload(name: str) -> bytes:
    """The exact bytes of a fixture file."""
    return (PAYLOADS / name).read_bytes()


@dataclass
class TelnyxCase:
    """What the shared tests need to know about Telnyx."""

    provider: str = "telnyx"
    adapter_class: type[CarrierAdapter] = TelnyxAdapter
    send_path: str = "/v2/messages"
    api_key: str = "KEY017A3B2C_test-api-key"
    signing_key: SigningKey = field(default_factory=SigningKey.generate)

    def credentials(self, base_url: str | None = None, **extra: str) -> dict[str, str]:
        """Valid credentials, pointing at ``base_url`` when given."""
        public_key = base64.b64encode(bytes(self.signing_key.verify_key)).decode()
        credentials = {"api_key": self.api_key, "public_key": public_key, **extra}
        if base_url is not None:
            credentials["base_url"] = base_url
        return credentials

    def signed(
        self, body: bytes, *, timestamp: int = NOW, key: SigningKey | None = None, headers: dict | None = None
    ) -> WebhookRequest:
        """``body`` as Telnyx would post it: Ed25519 over ``timestamp|body``, base64 in a header."""
        signature = (key or self.signing_key).sign(f"{timestamp}|".encode() + body).signature
        sent = {
            "Content-Type": "application/json",
            "Telnyx-Signature-Ed25519": base64.b64encode(signature).decode(),
            "Telnyx-Timestamp": str(timestamp),
            **(headers or {}),
        }
        return WebhookRequest(
            method="POST", url="https://sms.example.com/webhooks/telnyx/1", headers=sent, query={}, body=body
        )


TELNYX = TelnyxCase()
CASES = [pytest.param(TELNYX, id="telnyx")]

SMS = OutboundMessage(from_number="+15551234567", to_numbers=("+15559876543",), text="Hello, world!", reference="42")
MMS = OutboundMessage(
    from_number="+15551234567",
    to_numbers=("+15559876543",),
    text="Check out this image!",
    media_urls=("https://example.com/image.jpg", "https://example.com/second.png"),
    reference="43",
)


@pytest.fixture(params=CASES)
def carrier(request) -> TelnyxCase:
    """One carrier case."""
    return request.param


api = api_fixture()


@pytest.fixture
def adapter(carrier: TelnyxCase, api: HTTPServer) -> Iterator[CarrierAdapter]:
    """An adapter whose base_url is the test server, with short timeouts."""
    instance = carrier.adapter_class(carrier.credentials(api.url_for("/").rstrip("/")), timeout=(1.0, 2.0))
    yield instance
    instance.close()


# -- registry and credentials -------------------------------------------------------------------------


def test_registry_finds_telnyx_and_refuses_unknown_providers():
    assert PROVIDERS["telnyx"] is TelnyxAdapter
    assert get_adapter_class(" Telnyx ") is TelnyxAdapter
    with pytest.raises(CarrierConfigError) as refused:
        get_adapter_class("carrier-pigeon")
    assert refused.value.setting == "provider"
    assert "telnyx" in str(refused.value)


def test_credentials_are_trimmed_and_documented(carrier):
    names = [f.name for f in carrier.adapter_class.credential_fields]
    assert names == ["api_key", "public_key", "messaging_profile_id"]
    assert [f.name for f in carrier.adapter_class.credential_fields if f.secret] == ["api_key"]
    given_credentials = {**carrier.credentials(), "api_key": f"  {carrier.api_key}\n", "messaging_profile_id": ""}
    checked = carrier.adapter_class.validate_credentials(given_credentials)
    assert checked == carrier.credentials()


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"api_key": None}, "api_key"),
        ({"api_key": "   "}, "api_key"),
        ({"public_key": None}, "public_key"),
        ({"public_key": "not base64!"}, "public_key"),
        ({"public_key": base64.b64encode(b"x" * 31).decode()}, "public_key"),
        ({"base_url": "api.telnyx.com"}, "base_url"),
        ({"apikey": "typo"}, "apikey"),
    ],
)
def test_bad_credentials_name_the_setting_and_never_echo_it(carrier, change, setting):
    credentials = {**carrier.credentials(), **change}
    credentials = {k: v for k, v in credentials.items() if v is not None}
    with pytest.raises(CarrierConfigError) as refused:
        carrier.adapter_class(credentials)
    assert refused.value.setting == setting
    assert carrier.api_key not in str(refused.value)
    if setting == "public_key" and "public_key" in credentials:
        assert credentials["public_key"] not in str(refused.value)


# -- sending ---------------------------------------------------------------------------------------


def test_send_sms_posts_the_documented_request(carrier, api, adapter, caplog):
    api.expect_oneshot_request(
        carrier.send_path,
        method="POST",
        headers={"Authorization": f"Bearer {carrier.api_key}", "Content-Type": "application/json"},
        json={"from": "+15551234567", "to": "+15559876543", "text": "Hello, world!"},
    ).respond_with_data(payload("send-response.json"), content_type="application/json")
    caplog.set_level(logging.DEBUG)

    result = adapter.send(SMS)

    assert result.carrier_message_id == "b0c7e8cb-6227-4c74-9f32-c7f80c30934b"
    assert result.status is DeliveryStatus.QUEUED
    assert result.raw == json.loads(payload("send-response.json"))
    assert carrier.api_key not in caplog.text


def test_send_mms_carries_media_urls_and_the_messaging_profile(carrier, api):
    api.expect_oneshot_request(
        carrier.send_path,
        method="POST",
        json={
            "from": "+15551234567",
            "to": "+15559876543",
            "text": "Check out this image!",
            "media_urls": ["https://example.com/image.jpg", "https://example.com/second.png"],
            "messaging_profile_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
        },
    ).respond_with_data(payload("send-response.json"), content_type="application/json")
    credentials = carrier.credentials(
        api.url_for("/").rstrip("/"), messaging_profile_id="16fd2706-8baf-433b-82eb-8c7fada847da"
    )
    adapter = carrier.adapter_class(credentials, timeout=(1.0, 2.0))
    try:
        assert adapter.send(MMS).carrier_message_id == "b0c7e8cb-6227-4c74-9f32-c7f80c30934b"
    finally:
        adapter.close()


def test_send_media_without_text_leaves_text_out(carrier, api, adapter):
    picture_only = OutboundMessage(
        from_number="+15551234567", to_numbers=("+15559876543",), text="", media_urls=("https://example.com/a.jpg",)
    )
    api.expect_oneshot_request(
        carrier.send_path,
        method="POST",
        json={"from": "+15551234567", "to": "+15559876543", "media_urls": ["https://example.com/a.jpg"]},
    ).respond_with_data(payload("send-response.json"), content_type="application/json")
    assert adapter.send(picture_only).status is DeliveryStatus.QUEUED


@pytest.mark.parametrize(
    ("fixture", "http_status", "retryable", "code", "title"),
    [
        ("error-400-invalid-to-address.json", 400, False, "40310", "Invalid 'to' address"),
        ("error-409-blocked-stop.json", 409, False, "40300", "Blocked due to STOP message"),
        ("error-403-not-on-messaging-profile.json", 403, False, "40300", "Forbidden"),
        ("error-429-too-many-requests.json", 429, True, "10011", "Too many requests"),
        ("error-500-unexpected.json", 500, True, "10007", "Unexpected error"),
    ],
)
def test_send_errors_keep_the_carriers_code_and_say_whether_to_retry(
    carrier, api, adapter, fixture, http_status, retryable, code, title
):
    api.expect_oneshot_request(carrier.send_path, method="POST").respond_with_data(
        payload(fixture), status=http_status, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    error = failed.value
    detail = json.loads(payload(fixture))["errors"][0]["detail"]
    assert (error.carrier, error.status_code, error.code, error.retryable) == (
        carrier.provider,
        http_status,
        code,
        retryable,
    )
    assert error.message == f"{title}: {detail}"
    assert error.response_text == payload(fixture).decode()
    assert code in str(error) and str(http_status) in str(error)
    assert error.retry_after is None


def test_rate_limit_honours_retry_after_seconds(carrier, api, adapter):
    api.expect_oneshot_request(carrier.send_path, method="POST").respond_with_data(
        payload("error-429-too-many-requests.json"),
        status=429,
        headers={"Retry-After": "7"},
        content_type="application/json",
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert failed.value.retryable
    assert failed.value.retry_after == 7.0


def test_rate_limit_honours_retry_after_http_date(carrier, api, adapter):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    api.expect_oneshot_request(carrier.send_path, method="POST").respond_with_data(
        payload("error-429-too-many-requests.json"),
        status=429,
        headers={"Retry-After": later},
        content_type="application/json",
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert 60 < failed.value.retry_after <= 120


def test_error_marked_retryable_by_telnyx_is_retried_even_as_4xx(carrier, api, adapter):
    # Telnyx's error envelope may carry meta.retryable (documented for the Porting APIs); it wins.
    body = json.loads(payload("error-400-invalid-to-address.json"))
    body["errors"][0]["meta"] = {"retryable": True}
    api.expect_oneshot_request(carrier.send_path, method="POST").respond_with_json(body, status=400)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert failed.value.retryable


@pytest.mark.parametrize(
    ("http_status", "retryable"), [(502, True), (503, True), (429, True), (408, True), (404, False), (401, False)]
)
def test_errors_without_the_carriers_json_are_judged_by_http_status(carrier, api, adapter, http_status, retryable):
    # What a proxy or load balancer in front of the carrier answers.
    api.expect_oneshot_request(carrier.send_path, method="POST").respond_with_data(
        f"<html><body>{http_status}</body></html>", status=http_status, content_type="text/html"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert (failed.value.status_code, failed.value.code, failed.value.retryable) == (http_status, None, retryable)


def test_connection_refused_is_retryable(carrier):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    adapter = carrier.adapter_class(carrier.credentials(f"http://127.0.0.1:{port}"), timeout=(1.0, 1.0))
    try:
        with pytest.raises(CarrierError) as failed:
            adapter.send(SMS)
    finally:
        adapter.close()
    assert failed.value.retryable
    assert failed.value.status_code is None


def test_timeout_is_retryable(carrier):
    # A server that accepts the connection and never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        adapter = carrier.adapter_class(carrier.credentials(f"http://127.0.0.1:{port}"), timeout=(1.0, 0.2))
        try:
            with pytest.raises(CarrierError) as failed:
                adapter.send(SMS)
        finally:
            adapter.close()
    assert failed.value.retryable
    assert "timed out" in failed.value.message


def test_accepted_send_without_message_id_is_not_retried(carrier, api, adapter):
    # Retrying could send the text twice.
    api.expect_oneshot_request(carrier.send_path, method="POST").respond_with_json({"data": {}})
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable


def test_several_numbers_are_one_group_mms_and_more_than_eight_are_refused(carrier, api, adapter):
    sent: list[dict] = []

    def group_mms(request):
        sent.append(request.get_json())
        return Response(payload("send-response.json"), status=200, content_type="application/json")

    api.expect_request("/v2/messages/group_mms", method="POST").respond_with_handler(group_mms)
    group = OutboundMessage(from_number="+15551234567", to_numbers=("+15559876543", "+15559876544"), text="hi")
    assert adapter.send(group).carrier_message_id
    assert sent == [{"from": "+15551234567", "to": ["+15559876543", "+15559876544"], "text": "hi"}]
    crowd = OutboundMessage(from_number="+15551234567", to_numbers=tuple(f"+1555987650{n}" for n in range(9)),
                            text="too many")
    with pytest.raises(CarrierError) as refused:
        adapter.send(crowd)
    assert not refused.value.retryable
    assert len(api.log) == 1


# -- webhooks: every documented payload ------------------------------------------------------------


def _raw(name: str) -> dict[str, Any]:
    return json.loads(payload(name))


WEBHOOK_EXAMPLES = [
    pytest.param(
        TELNYX,
        "message-received-sms.json",
        [
            InboundMessage(
                carrier_message_id="84cca175-9755-4859-b67f-4730d7f58aa3",
                from_number="+13125550001",
                to_numbers=("+17735550002",),
                text="Hello from Telnyx!",
                media=(),
                received_at=datetime(2024, 1, 15, 20, 16, 7, 503000, tzinfo=UTC),
                raw=_raw("message-received-sms.json"),
            )
        ],
        id="telnyx-received-sms",
    ),
    pytest.param(
        TELNYX,
        "message-received-mms.json",
        [
            InboundMessage(
                carrier_message_id="84cca175-9755-4859-b67f-4730d7f58aa3",
                from_number="+13125550001",
                to_numbers=("+17735550002",),
                text="Hello from Telnyx!",
                media=(InboundMedia(url="https://media.telnyx.com/example-image.png", content_type="image/png"),),
                received_at=datetime(2024, 1, 15, 20, 16, 7, 503000, tzinfo=UTC),
                raw=_raw("message-received-mms.json"),
            )
        ],
        id="telnyx-received-mms",
    ),
    pytest.param(
        TELNYX,
        "message-sent.json",
        [
            StatusUpdate(
                carrier_message_id="ac012cbf-5e09-46af-a69a-7c0e2d90993c",
                status=DeliveryStatus.SENT,
                error_code=None,
                error_text=None,
                occurred_at=datetime(2024, 1, 15, 21, 32, 13, 596000, tzinfo=UTC),
                raw=_raw("message-sent.json"),
            )
        ],
        id="telnyx-sent",
    ),
    pytest.param(
        TELNYX,
        "message-finalized-delivered.json",
        [
            StatusUpdate(
                carrier_message_id="ac012cbf-5e09-46af-a69a-7c0e2d90993c",
                status=DeliveryStatus.DELIVERED,
                error_code=None,
                error_text=None,
                occurred_at=datetime(2024, 1, 15, 21, 32, 14, 148000, tzinfo=UTC),
                raw=_raw("message-finalized-delivered.json"),
            )
        ],
        id="telnyx-finalized-delivered",
    ),
    pytest.param(
        TELNYX,
        "message-finalized-failed.json",
        [
            StatusUpdate(
                carrier_message_id="ac012cbf-5e09-46af-a69a-7c0e2d90993c",
                status=DeliveryStatus.UNDELIVERED,
                error_code="40300",
                error_text="Destination number unreachable: "
                "The destination number is not reachable on the carrier network.",
                occurred_at=datetime(2024, 1, 15, 21, 32, 14, 148000, tzinfo=UTC),
                raw=_raw("message-finalized-failed.json"),
            )
        ],
        id="telnyx-finalized-failed",
    ),
    pytest.param(TELNYX, "sdk-test-call-initiated.json", [], id="telnyx-other-product-ignored"),
]


@pytest.mark.parametrize(("carrier", "fixture", "expected"), WEBHOOK_EXAMPLES)
def test_every_documented_webhook_becomes_the_right_events(carrier, fixture, expected):
    adapter = carrier.adapter_class(carrier.credentials())
    try:
        assert adapter.handle_webhook(carrier.signed(payload(fixture)), now=NOW) == expected
    finally:
        adapter.close()


@pytest.mark.parametrize(("telnyx_status", "ours"), sorted(TELNYX_STATUSES.items()))
def test_every_telnyx_status_maps(telnyx_status, ours):
    body = _raw("message-finalized-delivered.json")
    body["data"]["payload"]["to"][0]["status"] = telnyx_status
    adapter = TelnyxAdapter(TELNYX.credentials())
    try:
        [update] = adapter.handle_webhook(TELNYX.signed(json.dumps(body).encode()), now=NOW)
    finally:
        adapter.close()
    assert update.status is ours


@pytest.mark.parametrize("status", ["teleported", "", None, 7, "webhook_delivered"])
def test_unknown_status_is_unknown(carrier, status):
    body = _raw("message-finalized-delivered.json")
    body["data"]["payload"]["to"][0]["status"] = status
    adapter = carrier.adapter_class(carrier.credentials())
    try:
        [update] = adapter.handle_webhook(carrier.signed(json.dumps(body).encode()), now=NOW)
    finally:
        adapter.close()
    assert update.status is DeliveryStatus.UNKNOWN


def test_group_message_lists_every_other_participant_once(carrier):
    body = _raw("message-received-sms.json")
    body["data"]["payload"]["cc"] = [
        {"phone_number": "+17735550002", "status": "webhook_delivered"},
        {"phone_number": "+13125550001"},
        {"phone_number": "+13125550009", "carrier": "T-Mobile USA", "line_type": "Wireless"},
    ]
    adapter = carrier.adapter_class(carrier.credentials())
    try:
        [message] = adapter.handle_webhook(carrier.signed(json.dumps(body).encode()), now=NOW)
    finally:
        adapter.close()
    assert message.to_numbers == ("+17735550002", "+13125550009")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"data": []}',
        b'{"data": {"payload": {}}}',
        b'{"data": {"event_type": "message.received", "payload": {"id": "m1", "to": []}}}',
        b'{"data": {"event_type": "message.received", "payload": {"id": "m1", "to": [{"phone_number": "+1"}]}}}',
        b'{"data": {"event_type": "message.finalized", "payload": {"to": [{"status": "sent"}]}}}',
        '{"data": "\xe9"}'.encode("latin-1"),
    ],
)
def test_bodies_telnyx_would_not_send_are_parse_errors(carrier, body):
    adapter = carrier.adapter_class(carrier.credentials())
    try:
        with pytest.raises(WebhookParseError):
            adapter.handle_webhook(carrier.signed(body), now=NOW)
    finally:
        adapter.close()


# -- webhooks: signatures ----------------------------------------------------------------------------


@pytest.fixture
def webhook_adapter(carrier: TelnyxCase) -> Iterator[CarrierAdapter]:
    """An adapter for webhook checks only (no HTTP)."""
    instance = carrier.adapter_class(carrier.credentials())
    yield instance
    instance.close()


def test_signature_from_the_real_clock_is_accepted(carrier, webhook_adapter):
    request = carrier.signed(payload("message-sent.json"), timestamp=int(time.time()))
    assert len(webhook_adapter.handle_webhook(request)) == 1


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_signature_within_five_minutes_is_accepted(carrier, webhook_adapter, skew):
    request = carrier.signed(payload("message-sent.json"), timestamp=NOW + skew)
    webhook_adapter.verify(request, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, 86400], ids=["future", "stale", "day-old"])
def test_signature_outside_five_minutes_is_refused(carrier, webhook_adapter, skew):
    request = carrier.signed(payload("message-sent.json"), timestamp=NOW - skew)
    with pytest.raises(WebhookAuthError) as refused:
        webhook_adapter.handle_webhook(request, now=NOW)
    assert refused.value.status_code == 403


def test_signature_by_another_key_is_refused(carrier, webhook_adapter):
    request = carrier.signed(payload("message-sent.json"), key=SigningKey.generate())
    with pytest.raises(WebhookAuthError) as refused:
        webhook_adapter.handle_webhook(request, now=NOW)
    assert refused.value.status_code == 403


def test_tampered_body_is_refused(carrier, webhook_adapter):
    request = carrier.signed(payload("message-sent.json"))
    tampered = WebhookRequest(
        method=request.method,
        url=request.url,
        headers=request.headers,
        query=request.query,
        body=request.body.replace(b'"status": "sent"', b'"status": "delivered"'),
    )
    assert tampered.body != request.body
    with pytest.raises(WebhookAuthError) as refused:
        webhook_adapter.handle_webhook(tampered, now=NOW)
    assert refused.value.status_code == 403


def test_replayed_signature_with_a_fresh_timestamp_is_refused(carrier, webhook_adapter):
    old = carrier.signed(payload("message-sent.json"), timestamp=NOW - 3600)
    replayed = carrier.signed(
        payload("message-sent.json"), headers={"Telnyx-Signature-Ed25519": old.headers["telnyx-signature-ed25519"]}
    )
    with pytest.raises(WebhookAuthError) as refused:
        webhook_adapter.handle_webhook(replayed, now=NOW)
    assert refused.value.status_code == 403


@pytest.mark.parametrize("header", ["Telnyx-Signature-Ed25519", "Telnyx-Timestamp"])
def test_missing_signature_headers_are_refused_as_unauthenticated(carrier, webhook_adapter, header):
    request = carrier.signed(payload("message-sent.json"))
    headers = {name: value for name, value in request.headers.items() if name != header}
    unsigned = WebhookRequest(method="POST", url=request.url, headers=headers, query={}, body=request.body)
    with pytest.raises(WebhookAuthError) as refused:
        webhook_adapter.handle_webhook(unsigned, now=NOW)
    assert refused.value.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Telnyx-Signature-Ed25519": "not base64 at all"},
        {"Telnyx-Signature-Ed25519": base64.b64encode(b"\x00" * 63).decode()},
        {"Telnyx-Signature-Ed25519": base64.b64encode(b"\x00" * 64).decode()},
        {"Telnyx-Timestamp": "yesterday"},
        {"Telnyx-Timestamp": "1" * 5000},
        {"Telnyx-Timestamp": "١٧٠٥٣٥٤٣٣٤"},
    ],
)
def test_malformed_signature_headers_are_refused(carrier, webhook_adapter, headers):
    request = carrier.signed(payload("message-sent.json"), headers=headers)
    with pytest.raises(WebhookAuthError) as refused:
        webhook_adapter.handle_webhook(request, now=NOW)
    assert refused.value.status_code == 403


def test_header_names_are_case_insensitive(carrier, webhook_adapter):
    request = carrier.signed(payload("message-sent.json"))
    lowered = {name.lower(): value for name, value in request.headers.items()}
    upper = {name.upper(): value for name, value in request.headers.items()}
    for headers in (lowered, upper):
        again = WebhookRequest(method="POST", url=request.url, headers=headers, query={}, body=request.body)
        assert len(webhook_adapter.handle_webhook(again, now=NOW)) == 1


# -- webhooks: fuzz ----------------------------------------------------------------------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _mostly(good: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` nine times in ten, any JSON value otherwise."""
    return st.integers(0, 9).flatmap(lambda n: _ANY_JSON if n == 0 else good)


_WORD = st.text(min_size=1, max_size=12)
_ADDRESS = _mostly(
    st.fixed_dictionaries(
        {"phone_number": _mostly(_WORD)},
        optional={"status": _mostly(st.sampled_from(sorted(TELNYX_STATUSES)) | _WORD)},
    )
)
#: Telnyx-shaped events whose fields are mostly right and now and then missing or of any JSON type.
_EVENT = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {
                "event_type": _mostly(
                    st.sampled_from(["message.received", "message.sent", "message.finalized", "message.read"])
                ),
                "payload": _mostly(
                    st.fixed_dictionaries(
                        {
                            "id": _mostly(_WORD),
                            "from": _ADDRESS,
                            "to": _mostly(st.lists(_ADDRESS, min_size=1, max_size=3)),
                        },
                        optional={
                            "cc": _mostly(st.lists(_ADDRESS, max_size=3)),
                            "text": _mostly(st.text(max_size=40)),
                            "media": _mostly(
                                st.lists(
                                    _mostly(
                                        st.fixed_dictionaries(
                                            {"url": _mostly(_WORD)}, optional={"content_type": _mostly(_WORD)}
                                        )
                                    ),
                                    max_size=2,
                                )
                            ),
                            "errors": _mostly(
                                st.lists(
                                    st.dictionaries(st.sampled_from(["code", "title", "detail"]), _mostly(_WORD)),
                                    max_size=2,
                                )
                            ),
                            "received_at": _mostly(st.text(max_size=32)),
                        },
                    )
                ),
            },
            optional={"occurred_at": _mostly(st.text(max_size=32))},
        )
    }
)


def _events_or_parse_error(body: bytes) -> None:
    adapter = TelnyxAdapter(TELNYX.credentials())
    try:
        events = adapter.handle_webhook(TELNYX.signed(body), now=NOW)
    except WebhookParseError:
        return
    finally:
        adapter.close()
    assert isinstance(events, list)
    assert all(isinstance(event, InboundMessage | StatusUpdate) for event in events)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_any_signed_bytes_give_events_or_a_parse_error(body):
    _events_or_parse_error(body)


@settings(max_examples=150, deadline=None)
@given(_EVENT)
def test_any_signed_event_shape_gives_events_or_a_parse_error(event):
    _events_or_parse_error(json.dumps(event).encode())
