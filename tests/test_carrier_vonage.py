"""Vonage beyond the contract: Vonage's JWT test vector, the signed-webhook claims, MMS bodies, every status."""

from __future__ import annotations

import hashlib
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
from fspbx_sms.carriers.vonage import VONAGE_STATUSES, VonageAdapter, media_type, verify_hs256
from tests.carrier_cases import adapter_fixture, api_fixture, basic, hooks_fixture, refused_before_sending
from tests.carrier_cases.vonage import CASE, OURS, SIGNATURE_SECRET, THEIRS, URL, UUID, hs256_jwt, signed

#: A fixed "now" (Unix seconds) for signature checks.
NOW = 1_700_000_000
BASIC = basic("a1b2c3d4", "api-secret-contract")

# Vonage/vonage-python-sdk, jwt/tests/test_verify_jwt.py: an HS256 token and the secret that signed it.
SDK_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2MzQ2ODAsImV4cCI6MzMy"
    "NTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC29y6CGM"
)
SDK_SECRET = b"qwertyuiopasdfghjklzxcvbnm123456"


api = api_fixture()
adapter = adapter_fixture(CASE)
hooks = hooks_fixture(CASE)


# -- Vonage's published JWT test vector ---------------------------------------------------------------


def test_vonages_sdk_token_verifies_with_its_secret():
    assert verify_hs256(SDK_TOKEN, SDK_SECRET) == {
        "iss": "Online JWT Builder", "iat": 1697634680, "exp": 33254540828, "aud": "", "sub": ""
    }


@pytest.mark.parametrize(("token", "secret"), [(SDK_TOKEN, b"asdf"), ("asdf", SDK_SECRET)])
def test_vonages_sdk_negative_cases_are_refused(token, secret):
    with pytest.raises(WebhookAuthError) as refused:
        verify_hs256(token, secret)
    assert refused.value.status_code == 403


def test_a_valid_token_without_payload_hash_does_not_authenticate_a_webhook():
    adapter = VonageAdapter({**CASE.credentials(), "signature_secret": SDK_SECRET.decode()})
    headers = {"Authorization": f"Bearer {SDK_TOKEN}"}
    request = WebhookRequest("POST", URL, headers, {}, CASE.payload("inbound-sms.json"))
    try:
        with pytest.raises(WebhookAuthError) as refused:
            adapter.handle_webhook(request, now=1697634680)
    finally:
        adapter.close()
    assert "payload_hash" in str(refused.value)


# -- the signed webhook's claims ---------------------------------------------------------------------


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_tokens_issued_within_five_minutes_pass(hooks, skew):
    hooks.verify(signed(CASE.payload("inbound-sms.json"), iat=NOW + skew), now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -86400])
def test_tokens_issued_outside_five_minutes_fail(hooks, skew):
    with pytest.raises(WebhookAuthError) as refused:
        hooks.verify(signed(CASE.payload("inbound-sms.json"), iat=NOW + skew), now=NOW)
    assert refused.value.status_code == 403


@pytest.mark.parametrize(
    "claims",
    [{"exp": NOW - 1}, {"iat": None}, {"iat": "1700000000"}, {"payload_hash": None},
     {"payload_hash": hashlib.sha256(b"another body").hexdigest()}],
    ids=["expired", "no-iat", "iat-text", "no-hash", "other-body"],
)
def test_bad_claims_fail(hooks, claims):
    body = CASE.payload("inbound-sms.json")
    merged = {"iat": NOW, "iss": "Vonage", "payload_hash": hashlib.sha256(body).hexdigest(), **claims}
    token = hs256_jwt({name: value for name, value in merged.items() if value is not None}, SIGNATURE_SECRET)
    with pytest.raises(WebhookAuthError) as refused:
        hooks.verify(WebhookRequest("POST", URL, {"Authorization": f"Bearer {token}"}, {}, body), now=NOW)
    assert refused.value.status_code == 403


def test_the_payload_hash_may_be_upper_case(hooks):
    body = CASE.payload("inbound-sms.json")
    hooks.verify(signed(body, iat=NOW, payload_hash=hashlib.sha256(body).hexdigest().upper()), now=NOW)


def test_a_tampered_body_is_refused(hooks):
    request = signed(CASE.payload("message-status-undeliverable-mms.json"), iat=NOW)
    tampered = request.body.replace(b"undeliverable", b"delivered")
    with pytest.raises(WebhookAuthError):
        hooks.handle_webhook(WebhookRequest("POST", URL, request.headers, {}, tampered), now=NOW)


@pytest.mark.parametrize(
    "header",
    [{"alg": "none", "typ": "JWT"}, {"alg": "HS512", "typ": "JWT"}, {"typ": "JWT"}],
    ids=["none", "hs512", "no-alg"],
)
def test_only_hs256_tokens_are_accepted(hooks, header):
    body = CASE.payload("inbound-sms.json")
    claims = {"iat": NOW, "payload_hash": hashlib.sha256(body).hexdigest()}
    token = hs256_jwt(claims, SIGNATURE_SECRET, header)
    with pytest.raises(WebhookAuthError) as refused:
        hooks.verify(WebhookRequest("POST", URL, {"Authorization": f"Bearer {token}"}, {}, body), now=NOW)
    assert refused.value.status_code == 403


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic YTpi"],
)
def test_no_bearer_token_is_401(hooks, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    with pytest.raises(WebhookAuthError) as refused:
        hooks.handle_webhook(WebhookRequest("POST", URL, headers, {}, CASE.payload("inbound-sms.json")), now=NOW)
    assert refused.value.status_code == 401


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "!!!.@@@.###", "e30.W10.AAAA", "bm90IGpzb24.e30.AAAA"])
def test_malformed_tokens_are_403(hooks, token):
    request = WebhookRequest("POST", URL, {"Authorization": f"Bearer {token}"}, {}, b"{}")
    with pytest.raises(WebhookAuthError) as refused:
        hooks.handle_webhook(request, now=NOW)
    assert refused.value.status_code == 403


# -- sending ------------------------------------------------------------------------------------------


def test_sms_is_the_documented_body(api, adapter):
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        headers={"Authorization": BASIC},
        json={"to": "447700900000", "from": "447700900001", "channel": "sms", "message_type": "text",
              "text": "Hello, world!", "client_ref": "5"},
    ).respond_with_data(CASE.payload("send-response.json"), status=202, content_type="application/json")
    sms = OutboundMessage("+447700900001", ("+447700900000",), "Hello, world!", reference="5")
    result = adapter.send(sms)
    assert (result.carrier_message_id, result.status) == ("d8f86df1-dec6-442f-870a-2241be27d721", DeliveryStatus.QUEUED)


def test_one_picture_is_an_image_message_with_the_text_as_caption(api, adapter):
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        json={"to": "14155550100", "from": "14155550101", "channel": "mms", "message_type": "image",
              "image": {"url": "https://sms.example.com/m/cat.jpg", "caption": "Look"}},
    ).respond_with_data(CASE.payload("send-response.json"), status=202, content_type="application/json")
    mms = OutboundMessage("+14155550101", ("+14155550100",), "Look", ("https://sms.example.com/m/cat.jpg",))
    assert adapter.send(mms).carrier_message_id == "d8f86df1-dec6-442f-870a-2241be27d721"


def test_one_clip_without_text_is_a_video_message(api, adapter):
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        json={"to": "14155550100", "from": "14155550101", "channel": "mms", "message_type": "video",
              "video": {"url": "https://sms.example.com/m/clip.mp4?sig=x"}},
    ).respond_with_data(CASE.payload("send-response.json"), status=202, content_type="application/json")
    mms = OutboundMessage("+14155550101", ("+14155550100",), "", ("https://sms.example.com/m/clip.mp4?sig=x",))
    adapter.send(mms)


@pytest.mark.parametrize(
    ("url", "kind"),
    [("https://h/a.jpg", "image"), ("https://h/a.PNG?x=1", "image"), ("https://h/a.mp4", "video"),
     ("https://h/a.mp3", "audio"), ("https://h/a.pdf", "file"), ("https://h/media/abc?sig=1", "image")],
)
def test_media_type_follows_the_file_extension(url, kind):
    assert media_type(url) == kind


def test_a_long_reference_is_cut_to_vonages_client_ref_limit(adapter):
    message = OutboundMessage("+14155550101", ("+14155550100",), "hi", reference="r" * 150)
    assert json.loads(adapter.build_send_request(message).prepare().body)["client_ref"] == "r" * 100


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage("+14155550101", ("+14155550100", "+14155550102"), "group"),
        OutboundMessage("+14155550101", (), "nobody"),
        OutboundMessage("+14155550101", ("+14155550100",), ""),
        OutboundMessage("+14155550101", ("+14155550100",), "x" * 1001),
        OutboundMessage("+14155550101", ("+14155550100",), "x" * 2001, ("https://h/a.jpg",)),
    ],
    ids=["two-recipients", "no-recipient", "empty-sms", "sms-1001", "caption-2001"],
)
def test_what_vonage_refuses_is_refused_before_sending(api, adapter, message):
    refused_before_sending(api, adapter, message)


@pytest.mark.parametrize(
    ("fixture", "status", "code", "text", "retryable"),
    [
        ("error-invalid-params.json", 422, "1150",
         "Invalid params: The value of one or more parameters is invalid.: messenger.tag: invalid value", False),
        ("error-low-balance.json", 402, "low-balance",
         "Low balance: This request could not be performed due to your account balance being low.", False),
        ("error-429.json", 429, None, "Too Many Requests", True),
        ("error-500.json", 500, None, "Internal Server Error", True),
    ],
)
def test_documented_errors(api, adapter, fixture, status, code, text, retryable):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload(fixture), status=status, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(OutboundMessage("+14155550101", ("+14155550100",), "hi"))
    error = failed.value
    assert (error.status_code, error.code, error.message, error.retryable) == (status, code, text, retryable)


def test_accepted_send_without_uuid_is_not_retried(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json({}, status=202)
    with pytest.raises(CarrierError) as failed:
        adapter.send(OutboundMessage("+14155550101", ("+14155550100",), "hi"))
    assert not failed.value.retryable


# -- webhooks ------------------------------------------------------------------------------------------


def _events(hooks: VonageAdapter, body: bytes):
    return hooks.handle_webhook(signed(body, iat=NOW), now=NOW)


def test_inbound_sms_in_full(hooks):
    assert _events(hooks, CASE.payload("inbound-sms.json")) == [
        InboundMessage(
            carrier_message_id=UUID,
            from_number=THEIRS,
            to_numbers=(OURS,),
            text="Hello, world!",
            media=(),
            received_at=datetime(2020, 1, 1, 15, 43, 21, tzinfo=UTC),
            raw=json.loads(CASE.payload("inbound-sms.json")),
        )
    ]


def test_an_inbound_picture_keeps_its_caption(hooks):
    body = json.loads(CASE.payload("inbound-mms-image.json"))
    body["image"]["caption"] = "Our cat"
    [message] = _events(hooks, json.dumps(body).encode())
    assert message.text == "Our cat"
    assert message.media == (InboundMedia("https://www.example.org/path/to/image.png", None),)


@pytest.mark.parametrize(
    "changes",
    [{"channel": "whatsapp"}, {"channel": "messenger"}, {"message_type": "unsupported"}, {"message_type": "location"}],
)
def test_inbound_messages_we_cannot_relay_give_no_events(hooks, changes):
    body = {**json.loads(CASE.payload("inbound-sms.json")), **changes}
    assert _events(hooks, json.dumps(body).encode()) == []


#: Vonage's message-status values and what each means for us, written out independently of the adapter.
DOCUMENTED_STATUSES = {
    "submitted": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "rejected": DeliveryStatus.FAILED,
    "undeliverable": DeliveryStatus.UNDELIVERED,
}


def test_the_status_table_covers_exactly_the_documented_statuses():
    assert set(VONAGE_STATUSES) == set(DOCUMENTED_STATUSES)


@pytest.mark.parametrize(("vonage_status", "ours"), sorted(DOCUMENTED_STATUSES.items()))
def test_every_documented_status_maps(hooks, vonage_status, ours):
    [update] = _events(hooks, CASE.status_body(vonage_status, "u-1"))
    assert update.status is ours


@pytest.mark.parametrize(
    ("status", "error_code", "error_text"),
    [
        ("rejected", "1000",
         "Throttled - You have exceeded the submission capacity allowed on this account."),
        ("undeliverable", "1000",
         "Throttled - You have exceeded the submission capacity allowed on this account."),
        ("submitted", None, None),
    ],
)
def test_errors_are_kept_only_on_failures(hooks, status, error_code, error_text):
    body = json.loads(CASE.payload("message-status-submitted.json"))
    body["status"] = status
    [update] = _events(hooks, json.dumps(body).encode())
    assert (update.error_code, update.error_text) == (error_code, error_text)
    assert update.occurred_at == datetime(2020, 1, 1, 14, 0, 3, 10000, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"to": "1", "status": "delivered"}',
        b'{"message_uuid": "u", "channel": "sms", "message_type": "text", "from": "1", "to": "2", "text": 5}',
        b'{"message_uuid": "u", "channel": "sms", "message_type": "text", "to": "2", "text": "hi"}',
        b'{"message_uuid": "u", "channel": "mms", "message_type": "image", "from": "1", "to": "2", "image": "x"}',
        b'{"message_uuid": "u", "channel": "mms", "message_type": "image", "from": "1", "to": "2", "image": {}}',
        b'{"message_uuid": "u", "channel": "mms", "message_type": "image", "from": "1", "to": "2",'
        b' "image": {"url": "https://h/a.png", "caption": 1}}',
    ],
)
def test_bodies_vonage_would_not_send_are_parse_errors(hooks, body):
    with pytest.raises(WebhookParseError):
        _events(hooks, body)
