"""Sinch beyond the contract: Sinch's published signature vector, regions, batch bodies, every documented status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fspbx_sms.carriers import (
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
)
from fspbx_sms.carriers.sinch import SINCH_STATUSES, SinchAdapter, signature
from tests.carrier_cases import adapter_fixture, api_fixture, hooks_fixture, refused_before_sending
from tests.carrier_cases.sinch import CASE, NONCE, URL, signed

#: A fixed "now" (Unix seconds) for signature checks.
NOW = 1_700_000_000
SMS = OutboundMessage(from_number="+12015550100", to_numbers=("+12015550111",), text="Hello", reference="9")


api = api_fixture()
adapter = adapter_fixture(CASE)
hooks = hooks_fixture(CASE)


# -- Sinch's published signature test vector --------------------------------------------------------


def _vector(**changes: str) -> WebhookRequest:
    # sinch/sinch-sdk-dotnet, WebhooksTests.ValidateRequest: this body, secret "foo_secret1234".
    headers = {
        "x-sinch-webhook-signature-nonce": NONCE,
        "x-sinch-webhook-signature-timestamp": "1634579353",
        "x-sinch-webhook-signature": "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE=",
        **changes,
    }
    return WebhookRequest("POST", URL, headers, {}, CASE.payload("sdk-test-conversation-signed.json"))


def _vector_adapter() -> SinchAdapter:
    return SinchAdapter({**CASE.credentials(), "webhook_secret": "foo_secret1234"})


def test_sinchs_published_signature_is_accepted_and_the_event_ignored():
    adapter = _vector_adapter()
    try:
        assert adapter.handle_webhook(_vector(), now=1634579353 + 10) == []
    finally:
        adapter.close()


def test_signature_helper_reproduces_the_published_vector():
    body = CASE.payload("sdk-test-conversation-signed.json")
    assert signature(b"foo_secret1234", body, NONCE, "1634579353") == "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE="


@pytest.mark.parametrize(
    "changes",
    [
        {"x-sinch-webhook-signature-nonce": "01FJA8B4A7BM43YGWSG9GBV068"},
        {"x-sinch-webhook-signature-timestamp": "1634579354"},
        {"x-sinch-webhook-signature": "7bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE="},
        {"x-sinch-webhook-signature-algorithm": "HmacSHA512"},
        {"x-sinch-webhook-signature-algorithm": "HmacMD5"},
        {"x-sinch-webhook-signature-timestamp": "١٦٣٤٥٧٩٣٥٣"},
    ],
)
def test_any_change_to_the_vector_is_refused(changes):
    adapter = _vector_adapter()
    try:
        with pytest.raises(WebhookAuthError) as refused:
            adapter.handle_webhook(_vector(**changes), now=1634579353)
    finally:
        adapter.close()
    assert refused.value.status_code == 403


def test_the_vector_is_stale_an_hour_later():
    adapter = _vector_adapter()
    try:
        with pytest.raises(WebhookAuthError):
            adapter.handle_webhook(_vector(), now=1634579353 + 3600)
    finally:
        adapter.close()


# -- signing: our own ---------------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_signatures_within_five_minutes_pass(hooks, skew):
    hooks.verify(signed(CASE.payload("mo-text.json"), timestamp=NOW + skew), now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_signatures_outside_five_minutes_fail(hooks, skew):
    with pytest.raises(WebhookAuthError) as refused:
        hooks.verify(signed(CASE.payload("mo-text.json"), timestamp=NOW + skew), now=NOW)
    assert refused.value.status_code == 403


@pytest.mark.parametrize("algorithm", ["HmacSHA384", "HmacSHA512"])
def test_the_other_named_algorithms_are_checked_too(hooks, algorithm):
    body = CASE.payload("mo-text.json")
    request = signed(body, timestamp=NOW)
    headers = {
        **request.headers,
        "x-sinch-webhook-signature-algorithm": algorithm,
        "x-sinch-webhook-signature": signature(b"callback-secret-contract", body, NONCE, str(NOW), algorithm),
    }
    hooks.verify(WebhookRequest("POST", URL, headers, {}, body), now=NOW)


@pytest.mark.parametrize(
    "header",
    ["x-sinch-webhook-signature", "x-sinch-webhook-signature-timestamp", "x-sinch-webhook-signature-nonce"],
)
def test_unsigned_callbacks_are_401(hooks, header):
    request = signed(CASE.payload("mo-text.json"), timestamp=NOW)
    headers = {name: value for name, value in request.headers.items() if name != header}
    with pytest.raises(WebhookAuthError) as refused:
        hooks.handle_webhook(WebhookRequest("POST", URL, headers, {}, request.body), now=NOW)
    assert refused.value.status_code == 401


def test_a_tampered_body_is_refused(hooks):
    request = signed(CASE.payload("recipient-delivery-report-sms.json"), timestamp=NOW)
    tampered = request.body.replace(b'"Dispatched"', b'"Delivered"')
    assert tampered != request.body
    with pytest.raises(WebhookAuthError):
        hooks.handle_webhook(WebhookRequest("POST", URL, request.headers, {}, tampered), now=NOW)


# -- credentials and regions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "root"),
    [(None, "https://us.sms.api.sinch.com"), ("EU", "https://eu.sms.api.sinch.com"),
     ("au", "https://au.sms.api.sinch.com"), ("br", "https://br.sms.api.sinch.com"),
     ("ca", "https://ca.sms.api.sinch.com")],
)
def test_the_region_picks_the_api_root(region, root):
    credentials = CASE.credentials() | ({"region": region} if region else {})
    adapter = SinchAdapter(credentials)
    try:
        prepared = adapter.build_send_request(SMS).prepare()
    finally:
        adapter.close()
    assert prepared.url == f"{root}/xms/v1/plan-contract/batches"


def test_an_unknown_region_is_named():
    with pytest.raises(CarrierConfigError) as refused:
        SinchAdapter({**CASE.credentials(), "region": "mars"})
    assert refused.value.setting == "region"


# -- sending ------------------------------------------------------------------------------------------


def test_text_batch_is_the_documented_body(api, adapter):
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        headers={"Authorization": "Bearer token-contract"},
        json={
            "from": "+12015550100",
            "to": ["+12015550111"],
            "type": "mt_text",
            "body": "Hello",
            "delivery_report": "per_recipient",
            "client_reference": "9",
        },
    ).respond_with_data(CASE.payload("send-response-text.json"), status=201, content_type="application/json")
    result = adapter.send(SMS)
    assert (result.carrier_message_id, result.status) == ("01FC66621XXXXX119Z8PMV1QPQ", DeliveryStatus.QUEUED)


def test_media_batch_with_one_picture_and_no_text(api, adapter):
    picture = OutboundMessage("+12015550100", ("+12015550111",), "", ("https://sms.example.com/m/1.jpg",))
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        json={
            "from": "+12015550100",
            "to": ["+12015550111"],
            "type": "mt_media",
            "body": {"url": "https://sms.example.com/m/1.jpg"},
            "delivery_report": "per_recipient",
        },
    ).respond_with_data(CASE.payload("send-response-media.json"), status=201, content_type="application/json")
    assert adapter.send(picture).carrier_message_id == "01FC66621XXXXX119Z8PMV1QPQ"


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage("+12015550100", (), "nobody"),
        OutboundMessage("+12015550100", tuple(f"+1201555{i:04d}" for i in range(1001)), "crowd"),
        OutboundMessage("+12015550100", ("+12015550111",), "x" * 2001),
        OutboundMessage("+12015550100", ("+12015550111",), "x" * 1990, ("https://a/1", "https://sms.example/22")),
    ],
    ids=["no-recipient", "1001-recipients", "text-2001", "text-plus-links-over-2000"],
)
def test_what_sinch_refuses_is_refused_before_sending(api, adapter, message):
    refused_before_sending(api, adapter, message)


def test_a_batch_created_cancelled_is_a_permanent_error(api, adapter):
    body = json.loads(CASE.payload("send-response-text.json"))
    body["canceled"] = True
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json(body, status=201)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable
    assert "cancelled" in failed.value.message


def test_the_documented_error_keeps_code_and_text(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload("error-400-syntax-invalid-parameter-format.json"), status=400, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    error = failed.value
    assert (error.code, error.message, error.retryable) == (
        "syntax_invalid_parameter_format", "'foo' is not a valid identifier", False
    )


def test_accepted_batch_without_id_is_not_retried(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json({"canceled": False}, status=201)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable


# -- callbacks ---------------------------------------------------------------------------------------


def _events(hooks: SinchAdapter, body: bytes):
    return hooks.handle_webhook(signed(body, timestamp=NOW), now=NOW)


def test_mo_text_in_full(hooks):
    assert _events(hooks, CASE.payload("mo-text.json")) == [
        InboundMessage(
            carrier_message_id="01FC66621XXXXX119Z8PMV1QPA",
            from_number="+11203494390",
            to_numbers=("11203453453",),
            text="a body",
            media=(),
            received_at=datetime(2019, 8, 24, 14, 17, 22, tzinfo=UTC),
            raw=json.loads(CASE.payload("mo-text.json")),
        )
    ]


def test_mo_media_keeps_the_content_type_either_spelling(hooks):
    [message] = _events(hooks, CASE.payload("mo-media.json"))
    assert message.media == (InboundMedia("https://foo.url", "content/type"),)
    body = json.loads(CASE.payload("mo-media.json"))
    body["body"]["media"] = [{"url": "https://s3.example/a.jpg", "content_type": "image/jpeg", "code": 0}]
    [message] = _events(hooks, json.dumps(body).encode())
    assert message.media == (InboundMedia("https://s3.example/a.jpg", "image/jpeg"),)


def test_recipient_report_in_full(hooks):
    assert _events(hooks, CASE.payload("recipient-delivery-report-mms.json")) == [
        StatusUpdate(
            carrier_message_id="01FC66621XXXXX119Z8PMV1QPQ",
            status=DeliveryStatus.SENT,
            error_code=None,
            error_text=None,
            occurred_at=datetime(2022, 8, 30, 8, 16, 8, 930000, tzinfo=UTC),
            raw=json.loads(CASE.payload("recipient-delivery-report-mms.json")),
        )
    ]


#: Sinch's delivery report statuses and what each means for us, written out independently of the adapter.
DOCUMENTED_STATUSES = {
    "queued": DeliveryStatus.QUEUED,
    "dispatched": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "aborted": DeliveryStatus.FAILED,
    "expired": DeliveryStatus.FAILED,
    "cancelled": DeliveryStatus.FAILED,
    "deleted": DeliveryStatus.FAILED,
    "rejected": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
    "unknown": DeliveryStatus.SENT,
}


def test_the_status_table_covers_exactly_the_documented_statuses():
    assert set(SINCH_STATUSES) == set(DOCUMENTED_STATUSES)


@pytest.mark.parametrize(("sinch_status", "ours"), sorted(DOCUMENTED_STATUSES.items()))
def test_every_documented_status_maps_in_any_case(hooks, sinch_status, ours):
    for spelled in (sinch_status, sinch_status.capitalize(), sinch_status.upper()):
        [update] = _events(hooks, CASE.status_body(spelled, "b-1"))
        assert update.status is ours


@pytest.mark.parametrize(
    ("status", "code", "error_code", "error_text"),
    [
        ("Aborted", 412, "412", "Unprovisioned region"),
        ("Failed", 11, "11", None),
        ("Delivered", 0, None, None),
        ("Dispatched", 401, None, None),
        ("Rejected", 402, "402", "Message unroutable"),
    ],
)
def test_failures_keep_their_code(hooks, status, code, error_code, error_text):
    body = json.loads(CASE.status_body(status, "b-2"))
    body["code"] = code
    [update] = _events(hooks, json.dumps(body).encode())
    assert (update.error_code, update.error_text) == (error_code, error_text)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "delivery_report_sms", "batch_id": "b", "statuses": [], "total_message_count": 1},
        {"type": "mo_binary", "id": "i", "from": "+1", "to": "2", "body": "SGVsbG8=", "udh": "0605"},
        {"type": "something_else"},
        {},
    ],
)
def test_callbacks_we_do_not_handle_give_no_events(hooks, body):
    assert _events(hooks, json.dumps(body).encode()) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"type": "mo_text", "from": "+1", "to": "2", "body": "x"}',
        b'{"type": "mo_text", "id": "i", "from": "+1", "to": "2", "body": {"message": "x"}}',
        b'{"type": "mo_media", "id": "i", "from": "+1", "to": "2", "body": "x"}',
        b'{"type": "mo_media", "id": "i", "from": "+1", "to": "2", "body": {"message": 5}}',
        b'{"type": "mo_media", "id": "i", "from": "+1", "to": "2", "body": {"media": [{"code": 0}]}}',
        b'{"type": "recipient_delivery_report_sms", "status": "Delivered"}',
    ],
)
def test_bodies_sinch_would_not_send_are_parse_errors(hooks, body):
    with pytest.raises(WebhookParseError):
        _events(hooks, body)
