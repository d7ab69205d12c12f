"""Bandwidth beyond the contract: exact send bodies, limits, every documented error and callback, Basic auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fspbx_sms.carriers import (
    CarrierError,
    DeliveryStatus,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.bandwidth import BANDWIDTH_STATUSES, BandwidthAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, basic, hooks_fixture, refused_before_sending
from tests.carrier_cases.bandwidth import CASE, MEDIA, MESSAGE_ID, URL

SMS = OutboundMessage(from_number="+12345678901", to_numbers=("+12345678902",), text="Hey, check this out!")


api = api_fixture()
adapter = adapter_fixture(CASE)
hooks = hooks_fixture(CASE)


# -- sending ---------------------------------------------------------------------------------------


def test_send_posts_the_documented_body_with_basic_auth(api, adapter):
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        headers={"Authorization": basic("api-username", "api-password-contract")},
        json={
            "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
            "to": ["+12345678902"],
            "from": "+12345678901",
            "text": "Hey, check this out!",
        },
    ).respond_with_data(CASE.payload("send-response.json"), status=202, content_type="application/json")
    result = adapter.send(SMS)
    assert (result.carrier_message_id, result.status) == (MESSAGE_ID, DeliveryStatus.QUEUED)
    assert result.raw == json.loads(CASE.payload("send-response.json"))


def test_group_picture_message_without_text(api, adapter):
    group = OutboundMessage(
        from_number="+12345678901",
        to_numbers=("+12345678902", "+12345678903", "+12345678904"),
        text="",
        media_urls=("https://sms.example.com/media/a.jpg",),
        reference="77",
    )
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        json={
            "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
            "to": ["+12345678902", "+12345678903", "+12345678904"],
            "from": "+12345678901",
            "media": ["https://sms.example.com/media/a.jpg"],
            "tag": "77",
        },
    ).respond_with_data(CASE.payload("send-response.json"), status=202, content_type="application/json")
    assert adapter.send(group).carrier_message_id == MESSAGE_ID


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage("+12345678901", tuple(f"+1234567890{i}" for i in range(10)), "too many"),
        OutboundMessage("+12345678901", (), "nobody"),
        OutboundMessage("+12345678901", ("+12345678902",), "x" * 2049),
        OutboundMessage("+12345678901", ("+12345678902",), "", ("https://sms.example.com/" + "m" * 4073,)),
    ],
    ids=["ten-recipients", "no-recipient", "text-2049", "media-url-4097"],
)
def test_what_bandwidth_refuses_is_refused_before_sending(api, adapter, message):
    refused_before_sending(api, adapter, message)


def test_the_documented_limits_themselves_are_sent(api, adapter):
    at_limit = OutboundMessage(
        "+12345678901", tuple(f"+1234567890{i}" for i in range(9)), "x" * 2048,
        ("https://sms.example.com/" + "m" * 4072,),
    )
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload("send-response.json"), status=202, content_type="application/json"
    )
    assert adapter.send(at_limit).carrier_message_id == MESSAGE_ID


@pytest.mark.parametrize(
    ("fixture", "status", "code", "retryable"),
    [
        ("error-400-request-validation.json", 400, "request-validation", False),
        ("error-401-unauthorized.json", 401, "unauthorized", False),
        ("error-403-forbidden.json", 403, "forbidden", False),
        ("error-429-queue-full.json", 429, "max-message-queue-size-exceeded", True),
    ],
)
def test_documented_errors_keep_type_and_description(api, adapter, fixture, status, code, retryable):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload(fixture), status=status, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    error = failed.value
    assert (error.status_code, error.code, error.retryable) == (status, code, retryable)
    assert error.message == json.loads(CASE.payload(fixture))["description"]
    assert error.response_text == CASE.payload(fixture).decode()


def test_field_errors_are_part_of_the_message(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json(
        {
            "type": "request-validation",
            "description": "Your request could not be accepted",
            "fieldErrors": [
                {"fieldName": "from", "description": "'+invalid' must be replaced with a valid E164 formatted "
                                                     "telephone number"}
            ],
        },
        status=400,
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert failed.value.message == (
        "Your request could not be accepted: '+invalid' must be replaced with a valid E164 formatted telephone number"
    )


def test_accepted_send_without_an_id_is_not_retried(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json({"owner": "+1"}, status=202)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable


# -- inbound media ------------------------------------------------------------------------------------


def test_media_on_bandwidths_api_is_fetched_with_the_api_credentials(api, adapter):
    api.expect_oneshot_request(
        "/api/v2/users/9900000/media/abc/0/bw.png",
        method="GET",
        headers={"Authorization": basic("api-username", "api-password-contract")},
    ).respond_with_data(b"\x89PNG", content_type="image/png")
    url = api.url_for("/api/v2/users/9900000/media/abc/0/bw.png")
    with adapter.session.send(adapter.session.prepare_request(adapter.media_request(url)), timeout=2) as response:
        assert response.content == b"\x89PNG"


def test_media_elsewhere_never_gets_the_api_credentials(adapter):
    prepared = adapter.media_request("https://media.example.org/api/v2/users/9900000/media/x.png").prepare()
    assert "Authorization" not in prepared.headers


# -- callbacks ---------------------------------------------------------------------------------------


def _events(hooks: BandwidthAdapter, body: bytes):
    return hooks.handle_webhook(CASE.webhook(body))


def test_group_mms_lists_our_number_first_then_the_others(hooks):
    [message] = _events(hooks, CASE.payload("message-received-group-mms.json"))
    assert message == InboundMessage(
        carrier_message_id=MESSAGE_ID,
        from_number="+12345678901",
        to_numbers=("+12345678902", "+12345678903"),
        text="Hey, check this out!",
        media=(InboundMedia(MEDIA, None),),
        received_at=datetime(2016, 9, 14, 18, 20, 16, tzinfo=UTC),
        raw=json.loads(CASE.payload("message-received-group-mms.json"))[0],
    )


def test_our_second_number_in_a_group_gets_its_own_copy(hooks):
    body = json.loads(CASE.payload("message-received-group-mms.json"))
    body[0]["message"]["owner"] = "+12345678903"
    [message] = _events(hooks, json.dumps(body).encode())
    assert message.to_numbers == ("+12345678903", "+12345678902")


def test_the_failed_callback_keeps_code_and_description(hooks):
    [update] = _events(hooks, CASE.payload("message-failed.json"))
    assert (update.status, update.error_code, update.error_text) == (
        DeliveryStatus.FAILED, "4432", "forbidden to country"
    )
    assert update.occurred_at == datetime(2016, 9, 14, 18, 20, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (4432, DeliveryStatus.FAILED),  # Bandwidth refused it: forbidden country
        (4470, DeliveryStatus.FAILED),  # Bandwidth's spam filter
        (4720, DeliveryStatus.UNDELIVERED),  # carrier rejected
        (5620, DeliveryStatus.UNDELIVERED),  # carrier reported service failure
        (9902, DeliveryStatus.UNDELIVERED),  # timed out waiting for a delivery receipt
        (5100, DeliveryStatus.FAILED),  # Bandwidth server error
        ("4720", DeliveryStatus.UNDELIVERED),
        (None, DeliveryStatus.FAILED),
    ],
)
def test_failure_codes_say_who_refused(hooks, code, status):
    body = json.loads(CASE.payload("message-failed.json"))
    body[0]["errorCode"] = code
    [update] = _events(hooks, json.dumps(body).encode())
    assert update.status is status


#: Bandwidth's outbound callback types and what each means for us, written out independently of the adapter.
DOCUMENTED_TYPES = {
    "message-sending": DeliveryStatus.QUEUED,
    "message-delivered": DeliveryStatus.DELIVERED,
    "message-failed": DeliveryStatus.FAILED,
}


def test_the_status_table_covers_exactly_the_documented_types():
    assert set(BANDWIDTH_STATUSES) == set(DOCUMENTED_TYPES)


@pytest.mark.parametrize(("event_type", "ours"), sorted(DOCUMENTED_TYPES.items()))
def test_every_documented_callback_type_maps(hooks, event_type, ours):
    [update] = _events(hooks, CASE.status_body(event_type, "m-1"))
    assert update.status is ours


def test_delivered_callbacks_carry_no_error(hooks):
    [update] = _events(hooks, CASE.payload("message-delivered.json"))
    assert (update.error_code, update.error_text) == (None, None)


def test_several_events_in_one_callback_come_back_in_order(hooks):
    events = [
        *json.loads(CASE.payload("message-sending.json")),
        *json.loads(CASE.payload("message-received.json")),
        *json.loads(CASE.payload("message-failed.json")),
    ]
    received = _events(hooks, json.dumps(events).encode())
    assert [type(event).__name__ for event in received] == ["StatusUpdate", "InboundMessage", "StatusUpdate"]


def test_an_empty_callback_has_no_events(hooks):
    assert _events(hooks, b"[]") == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"type": "message-received"}',
        b"[1]",
        b'[{"type": "message-received"}]',
        b'[{"type": 7, "message": {"id": "m"}}]',
        b'[{"type": "message-received", "message": {"id": "m", "from": "+1", "to": "+2"}}]',
        b'[{"type": "message-received", "message": {"id": "m", "from": "+1", "to": [], "owner": ""}}]',
        b'[{"type": "message-received", "message": {"id": "m", "from": "+1", "to": ["+2"], "text": 5}}]',
        b'[{"type": "message-received", "message": {"id": "m", "from": "+1", "to": ["+2"], "media": [3]}}]',
        b'[{"type": "message-delivered", "message": {}}]',
    ],
)
def test_bodies_bandwidth_would_not_send_are_parse_errors(hooks, body):
    with pytest.raises(WebhookParseError):
        _events(hooks, body)


# -- callback authentication ---------------------------------------------------------------------------


def _with_authorization(value: str | None) -> WebhookRequest:
    headers = {"Content-Type": "application/json"}
    if value is not None:
        headers["authorization"] = value
    return WebhookRequest("POST", URL, headers, {}, CASE.payload("message-delivered.json"))


@pytest.mark.parametrize(
    "value",
    [None, "", "Bearer abc", "Basic", "Basic !!!not-base64!!!", "Basic " + "bm9jb2xvbg==", "Digest x=1"],
    ids=["absent", "empty", "bearer", "no-credentials", "bad-base64", "no-colon", "digest"],
)
def test_missing_or_unreadable_credentials_are_401(hooks, value):
    with pytest.raises(WebhookAuthError) as refused:
        hooks.handle_webhook(_with_authorization(value))
    assert refused.value.status_code == 401


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("callback-user", "callback-password-contrac"),
        ("callback-user", "callback-password-contractX"),
        ("callback-userX", "callback-password-contract"),
        ("", ""),
        ("callback-user:callback-password-contract", ""),
    ],
)
def test_wrong_credentials_are_403(hooks, username, password):
    with pytest.raises(WebhookAuthError) as refused:
        hooks.handle_webhook(_with_authorization(basic(username, password)))
    assert refused.value.status_code == 403


def test_the_scheme_is_case_insensitive_and_passwords_may_hold_colons():
    credentials = {**CASE.credentials(), "webhook_password": "pa:ss:word"}
    adapter = BandwidthAdapter(credentials)
    try:
        request = _with_authorization(basic("callback-user", "pa:ss:word").replace("Basic", "basic"))
        assert len(adapter.handle_webhook(request)) == 1
    finally:
        adapter.close()
