"""Twilio beyond the contract: Twilio's published signature vectors, every status, limits, errors, credentials."""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlencode

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
from fspbx_sms.carriers.twilio import TWILIO_STATUSES, TwilioAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, refused_before_sending
from tests.carrier_cases.twilio import ACCOUNT_SID, AUTH_TOKEN, CASE, URL

SMS = OutboundMessage(from_number="+15551234567", to_numbers=("+15559876543",), text="Hello", reference="1")

# twilio/twilio-python tests/unit/test_request_validator.py (also in signalwire/compatibility-api-js).
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


api = api_fixture()
adapter = adapter_fixture(CASE)


def _vector_request(url: str, signature: str, body: bytes | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"X-Twilio-Signature": signature},
        query={},
        body=urlencode(VECTOR_PARAMS).encode() if body is None else body,
    )


# -- Twilio's published signature vectors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # test_validation_removes_port_on_https: the port is dropped before comparing.
        (VECTOR_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # test_validation_removes_port_on_http: "hash of http uri with port 1234".
        (VECTOR_URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # test_validation_adds_port_on_https / _http: signed with the default port.
        (VECTOR_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (VECTOR_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_twilios_published_signatures_are_accepted(url, signature):
    adapter = TwilioAdapter({"account_sid": ACCOUNT_SID, "auth_token": VECTOR_TOKEN})
    adapter.verify(_vector_request(url, signature))


# twilio-labs/plugin-webhook test/commands/webhook/invoke.test.js: the plugin posts inbound-sms.form to this URL,
# signed with these auth tokens; the second and third vectors are the same body with Body="Ahoy from tests".
PLUGIN_URL = "https://handler.twilio.com/twiml/EH" + "a" * 32


@pytest.mark.parametrize(
    ("token", "body_value", "signature"),
    [
        ("1" * 32, None, "kztpITUtQNpvjXiMmV/bZ6jnYms="),
        ("1" * 32, '"Ahoy from tests"', "1kiKLAAQcu0UvIjTvxwAn8fuZKA="),
        ("2" * 32, '"Ahoy from tests"', "oJQDvws9zhcj03RHMOW7CShnLvs="),
    ],
    ids=["default-values", "data-override", "custom-auth-token"],
)
def test_twilio_cli_webhook_plugin_vectors_over_the_inbound_fixture(token, body_value, signature):
    body = CASE.payload("inbound-sms.form")
    if body_value is not None:
        body = body.replace(b"&Body=Ahoy&", b"&" + urlencode({"Body": body_value}).encode() + b"&")
    adapter = TwilioAdapter({"account_sid": ACCOUNT_SID, "auth_token": token})
    adapter.verify(_vector_request(PLUGIN_URL, signature, body))
    [message] = adapter.parse(_vector_request(PLUGIN_URL, signature, body))
    assert message.text == (body_value or "Ahoy")


def test_twilios_duplicate_parameter_vector_is_accepted():
    # test_compute_signature_duplicate_multi_dict: Digits twice, signed sorted.
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    adapter = TwilioAdapter({"account_sid": ACCOUNT_SID, "auth_token": VECTOR_TOKEN})
    adapter.verify(_vector_request(VECTOR_URL, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", body))


@pytest.mark.parametrize(
    "change",
    [
        {"url": VECTOR_URL + "&somethingUnexpected=true"},
        {"body": urlencode({**VECTOR_PARAMS, "Digits": "9999"}).encode()},
        {"token": "123456"},
    ],
    ids=["other-url", "other-field", "other-token"],
)
def test_the_vector_signature_does_not_fit_anything_else(change):
    adapter = TwilioAdapter({"account_sid": ACCOUNT_SID, "auth_token": change.get("token", VECTOR_TOKEN)})
    request = _vector_request(change.get("url", VECTOR_URL), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", change.get("body"))
    with pytest.raises(WebhookAuthError) as refused:
        adapter.verify(request)
    assert refused.value.status_code == 403


def test_a_webhook_without_signature_is_unauthenticated():
    request = CASE.webhook(CASE.payload("status-sent.form"))
    unsigned = WebhookRequest("POST", request.url, {"Content-Type": "application/x-www-form-urlencoded"}, {},
                              request.body)
    with pytest.raises(WebhookAuthError) as refused:
        CASE.adapter().handle_webhook(unsigned)
    assert refused.value.status_code == 401


def test_signature_header_name_is_case_insensitive():
    request = CASE.webhook(CASE.payload("status-sent.form"))
    lowered = WebhookRequest("POST", request.url, {k.lower(): v for k, v in request.headers.items()}, {},
                             request.body)
    assert len(CASE.adapter().handle_webhook(lowered)) == 1


# -- webhooks: parsing -----------------------------------------------------------------------------


def test_inbound_mms_keeps_its_media_type_and_every_field():
    [message] = CASE.adapter().handle_webhook(CASE.webhook(CASE.payload("inbound-mms.form")))
    assert isinstance(message, InboundMessage)
    assert [media.content_type for media in message.media] == ["image/jpeg"]
    assert all(isinstance(media, InboundMedia) for media in message.media)
    assert message.raw["AccountSid"] == "AC" + "b" * 32
    assert message.raw["MessagingServiceSid"] == "MG" + "a" * 32


def test_a_non_ascii_body_is_signed_and_read_as_utf8():
    """Twilio percent-encodes the UTF-8 bytes of a body and signs the decoded text: accents and emoji survive."""
    text = "Café ✓ 👍 ¿sí?"
    body = CASE.payload("inbound-sms.form").replace(b"Body=Ahoy", urlencode({"Body": text}).encode())
    assert body != CASE.payload("inbound-sms.form")
    [message] = CASE.adapter().handle_webhook(CASE.webhook(body))
    assert isinstance(message, InboundMessage)
    assert message.text == text


def test_failed_status_keeps_twilios_error_code_and_message():
    body = CASE.payload("status-failed-30034.form") + b"&ErrorMessage=Unregistered+number"
    [update] = CASE.adapter().handle_webhook(CASE.webhook(body))
    assert isinstance(update, StatusUpdate)
    assert (update.status, update.error_code, update.error_text) == (
        DeliveryStatus.FAILED,
        "30034",
        "Unregistered number",
    )


@pytest.mark.parametrize(("twilio_status", "ours"), sorted(TWILIO_STATUSES.items()))
def test_every_twilio_status_maps(twilio_status, ours):
    [update] = CASE.adapter().handle_webhook(CASE.webhook(CASE.status_body(twilio_status, "SM" + "9" * 32)))
    assert (update.carrier_message_id, update.status) == ("SM" + "9" * 32, ours)


def test_delivered_status_callback_has_no_error():
    [update] = CASE.adapter().handle_webhook(CASE.webhook(CASE.status_body("delivered", "SM1") + b"&ErrorCode=0"))
    assert update.error_code is None


@pytest.mark.parametrize(
    "body",
    [
        b"AccountSid=AC1&ApiVersion=2010-04-01",
        b"SmsStatus=something-else&MessageSid=SM1&From=%2B1&To=%2B2&Body=x",
    ],
    ids=["no-message-fields", "not-a-message-status"],
)
def test_forms_that_are_neither_message_nor_status_give_no_events(body):
    assert CASE.adapter().handle_webhook(CASE.webhook(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        b"MessageStatus=delivered",
        b"SmsStatus=received&Body=hi&From=%2B1&To=%2B2",
        b"MessageSid=SM1&Body=hi&From=%2B1&To=%2B2&NumMedia=two",
        b"MessageSid=SM1&Body=hi&From=%2B1&To=%2B2&NumMedia=1",
        b"MessageSid=SM1&Body=hi&From=%2B1&To=%2B2&NumMedia=100000",
        b"MessageSid=SM1&Body=%FF&From=%2B1&To=%2B2",
        b"MessageSid=SM1&Body=\xff&From=%2B1&To=%2B2",
    ],
    ids=["status-without-sid", "message-without-sid", "bad-num-media", "missing-media-url", "huge-num-media",
         "bad-percent-utf8", "bad-raw-utf8"],
)
def test_bodies_twilio_would_not_send_are_parse_errors(body):
    with pytest.raises(WebhookParseError):
        CASE.adapter().handle_webhook(CASE.webhook(body))


# -- sending ---------------------------------------------------------------------------------------


def test_send_posts_the_form_and_status_callback_and_logs_no_secret(api, caplog):
    callback = "https://sms.example.com/webhooks/twilio/1"
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        data=urlencode(
            {"To": "+15559876543", "From": "+15551234567", "Body": "Hello", "StatusCallback": callback}
        ),
    ).respond_with_data(CASE.payload("send-response.json"), status=201, content_type="application/json")
    caplog.set_level(logging.DEBUG)
    adapter = CASE.api_adapter(api, status_callback=callback)
    try:
        result = adapter.send(SMS)
    finally:
        adapter.close()
    assert (result.carrier_message_id, result.status) == ("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", DeliveryStatus.SENT)
    assert result.raw["body"] == "O Slash: \u00d8, PoP: \U0001f4a9"
    assert AUTH_TOKEN not in caplog.text
    assert base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode() not in caplog.text


@pytest.mark.parametrize(
    ("fixture", "http_status", "code", "retryable"),
    [
        ("error-400-21201-no-to-number.json", 400, "21201", False),
        ("error-400-21610-unsubscribed.json", 400, "21610", False),
        ("error-429-20429-too-many-requests.json", 429, "20429", True),
        ("error-500-20500-internal.json", 500, "20500", True),
    ],
)
def test_send_errors_keep_twilios_code_and_message(api, adapter, fixture, http_status, code, retryable):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload(fixture), status=http_status, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    error = failed.value
    assert (error.status_code, error.code, error.retryable) == (http_status, code, retryable)
    assert error.message in CASE.payload(fixture).decode()
    assert error.response_text == CASE.payload(fixture).decode()


def test_a_twilio_rate_limit_code_is_retried_even_in_a_400(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload("error-429-20429-too-many-requests.json"), status=400, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert failed.value.retryable


def test_an_accepted_send_without_sid_is_not_retried(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json({"status": "queued"}, status=201)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (OutboundMessage("+15551234567", ("+15559876543",), "x" * 1601), "1601 characters"),
        (OutboundMessage("+15551234567", ("+15559876543",), "", tuple(f"https://m/{i}" for i in range(11))),
         "11 attachments"),
        (OutboundMessage("+15551234567", ("+15559876543", "+15559876544"), "hi"), "exactly one number"),
        (OutboundMessage("+15551234567", ("+15559876543",), ""), "text or media"),
    ],
    ids=["text-too-long", "too-many-media", "group", "empty"],
)
def test_messages_over_twilios_limits_fail_for_good_without_a_request(api, adapter, message, reason):
    assert reason in refused_before_sending(api, adapter, message).message


def test_the_longest_body_and_most_media_twilio_takes_are_sent(api, adapter):
    media = tuple(f"https://sms.example.com/media/{i}" for i in range(10))
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload("send-response.json"), status=201, content_type="application/json"
    )
    adapter.send(OutboundMessage("+15551234567", ("+15559876543",), "x" * 1600, media))
    [(request, _)] = api.log
    assert request.form["Body"] == "x" * 1600
    assert request.form.getlist("MediaUrl") == list(media)


# -- credentials -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"account_sid": "AC123"}, "account_sid"),
        ({"account_sid": "SK" + "0" * 32}, "account_sid"),
        ({"status_callback": "sms.example.com/hook"}, "status_callback"),
    ],
)
def test_bad_credentials_name_the_setting_and_never_echo_the_token(change, setting):
    with pytest.raises(CarrierConfigError) as refused:
        TwilioAdapter({**CASE.credentials(), **change})
    assert refused.value.setting == setting
    assert AUTH_TOKEN not in str(refused.value)


def test_only_the_auth_token_is_secret_and_it_signs_webhooks():
    assert [f.name for f in TwilioAdapter.credential_fields if f.secret] == ["auth_token"]
    assert "X-Twilio-Signature" in TwilioAdapter.webhook_auth
    assert TwilioAdapter.webhook_url("https://sms.example.com", 1, "unused") == URL
