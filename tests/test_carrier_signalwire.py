"""SignalWire beyond the contract: the Compatibility SDK's signature vectors, Space URLs, statuses, errors."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from fspbx_sms.carriers import (
    CarrierConfigError,
    CarrierError,
    DeliveryStatus,
    OutboundMessage,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.signalwire import SIGNALWIRE_STATUSES, SignalWireAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, refused_before_sending
from tests.carrier_cases.signalwire import API_TOKEN, CASE, PROJECT_ID, SIGNING_KEY

SMS = OutboundMessage(from_number="+15551234567", to_numbers=("+15559876543",), text="Hello", reference="1")

# signalwire/compatibility-api-js spec/validation.spec.js: token "12345" and these parameters.
VECTOR_KEY = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


api = api_fixture()
adapter = adapter_fixture(CASE)


def _vector_adapter() -> SignalWireAdapter:
    return SignalWireAdapter({**CASE.credentials(), "signing_key": VECTOR_KEY})


def _vector(url: str, signature: str, body: bytes, header: str = "X-SignalWire-Signature") -> WebhookRequest:
    return WebhookRequest(method="POST", url=url, headers={header: signature}, query={}, body=body)


# -- the Compatibility SDK's published vectors ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "signature", "body"),
    [
        (VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", urlencode(VECTOR_PARAMS)),
        # "should validate https urls with ports by stripping them"
        (VECTOR_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", urlencode(VECTOR_PARAMS)),
        # "should validate http urls without ports by adding standard port 80"
        (VECTOR_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4=", urlencode(VECTOR_PARAMS)),
        # "should validate urls with credentials" / "... by adding port"
        ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "CukzLTc1tT5dXEDIHm/tKBanW10=",
         urlencode(VECTOR_PARAMS)),
        ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
         urlencode(VECTOR_PARAMS)),
        # "should validate urls with special characters"
        (VECTOR_URL + "&Body=It's+amazing", "dsq4Ehbj6cs+KdTkpF5sSSplOWw=", urlencode(VECTOR_PARAMS)),
        # "should validate request body with an array parameter"
        (VECTOR_URL, "83O6e2vORAoJHUNzJjDWN1jz+BA=",
         urlencode([("MessagingBinding.Address", "+1325xxxxxxx"), ("MessagingBinding.Address", "+1415xxxxxxx")])),
    ],
    ids=["plain", "https-port-stripped", "http-port-80", "credentials", "credentials-port-443",
         "special-characters", "array-parameter"],
)
def test_the_compatibility_sdks_published_signatures_are_accepted(url, signature, body):
    _vector_adapter().verify(_vector(url, signature, body.encode()))


def test_the_legacy_twilio_header_is_accepted_too():
    # "should also work with SignalWire signature": the SDK takes either header.
    body = urlencode(VECTOR_PARAMS).encode()
    _vector_adapter().verify(_vector(VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", body, "X-Twilio-Signature"))


def test_the_wrong_signature_is_refused():
    # "should fail when given the wrong signature"
    body = urlencode(VECTOR_PARAMS).encode()
    with pytest.raises(WebhookAuthError) as refused:
        _vector_adapter().verify(_vector(VECTOR_URL, "WRONG_SIGNATURE", body))
    assert refused.value.status_code == 403


def test_a_signature_made_with_the_api_token_is_refused():
    # The Signing Key, not the API token, signs webhooks.
    with pytest.raises(WebhookAuthError):
        CASE.adapter().handle_webhook(CASE.forged(CASE.payload("status-sent.form")))


def test_no_signature_header_is_unauthenticated():
    body = CASE.payload("status-sent.form")
    with pytest.raises(WebhookAuthError) as refused:
        CASE.adapter().handle_webhook(WebhookRequest("POST", "https://sms.example.com/webhooks/signalwire/1", {}, {},
                                                     body))
    assert refused.value.status_code == 401


# -- webhooks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("signalwire_status", "ours"), sorted(SIGNALWIRE_STATUSES.items()))
def test_every_signalwire_status_maps(signalwire_status, ours):
    [update] = CASE.adapter().handle_webhook(CASE.webhook(CASE.status_body(signalwire_status, "msg-1")))
    assert (update.carrier_message_id, update.status) == ("msg-1", ours)


def test_a_failed_status_keeps_code_and_text():
    [update] = CASE.adapter().handle_webhook(CASE.webhook(CASE.payload("status-failed-30001.form")))
    assert (update.status, update.error_code, update.error_text) == (DeliveryStatus.FAILED, "30001", "Queue overflow")


def test_an_mms_without_text_has_its_media_type():
    [message] = CASE.adapter().handle_webhook(CASE.webhook(CASE.payload("inbound-mms.form")))
    assert message.text == ""
    assert [media.content_type for media in message.media] == ["image/jpeg"]


@pytest.mark.parametrize(
    "body",
    [b"MessageStatus=sent", b"MessageSid=m1&Body=hi&To=%2B1", b"MessageSid=m1&Body=hi&From=%2B1&To=%2B2&NumMedia=1",
     b"MessageSid=m1&Body=%C3&From=%2B1&To=%2B2"],
    ids=["status-without-sid", "message-without-from", "missing-media-url", "bad-utf8"],
)
def test_bodies_signalwire_would_not_send_are_parse_errors(body):
    with pytest.raises(WebhookParseError):
        CASE.adapter().handle_webhook(CASE.webhook(body))


# -- sending ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "space", ["example.signalwire.com", "https://example.signalwire.com/", " example.signalwire.com "]
)
def test_the_space_url_is_where_messages_go(space):
    adapter = SignalWireAdapter({**CASE.credentials(), "space_url": space})
    request = adapter.build_send_request(SMS)
    assert request.url == f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT_ID}/Messages.json"
    assert request.auth == (PROJECT_ID, API_TOKEN)


def test_send_with_status_callback(api):
    callback = "https://sms.example.com/webhooks/signalwire/1"
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        data=urlencode({"To": "+15559876543", "From": "+15551234567", "Body": "Hello", "StatusCallback": callback}),
    ).respond_with_data(CASE.payload("send-response.json"), status=201, content_type="application/json")
    adapter = CASE.api_adapter(api, status_callback=callback)
    try:
        result = adapter.send(SMS)
    finally:
        adapter.close()
    assert (result.carrier_message_id, result.status) == ("0a059168-ead0-41af-9d1f-343dae832527", DeliveryStatus.QUEUED)


@pytest.mark.parametrize(
    ("fixture", "http_status", "code", "text"),
    [
        ("error-401-authentication-failed.json", 401, "20003", "Authentication failed"),
        ("error-400-errors-array.json", 400, "30010",
         "Maxpriceperminute was exceeded. This call's cost is 0.008 per minute."),
    ],
)
def test_both_documented_error_shapes_keep_code_and_text(api, adapter, fixture, http_status, code, text):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(
        CASE.payload(fixture), status=http_status, content_type="application/json"
    )
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert (failed.value.code, failed.value.message, failed.value.retryable) == (code, text, False)


def test_text_over_1600_characters_fails_for_good_without_a_request(api, adapter):
    refused_before_sending(api, adapter, OutboundMessage("+15551234567", ("+15559876543",), "x" * 1601))


# -- credentials -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"project_id": "not-a-uuid"}, "project_id"),
        ({"space_url": "https://"}, "space_url"),
        ({"space_url": "example signalwire com"}, "space_url"),
        ({"status_callback": "ftp://x"}, "status_callback"),
    ],
)
def test_bad_credentials_name_the_setting_and_never_echo_secrets(change, setting):
    with pytest.raises(CarrierConfigError) as refused:
        SignalWireAdapter({**CASE.credentials(), **change})
    assert refused.value.setting == setting
    assert API_TOKEN not in str(refused.value) and SIGNING_KEY not in str(refused.value)


def test_api_token_and_signing_key_are_the_secrets():
    assert [f.name for f in SignalWireAdapter.credential_fields if f.secret] == ["api_token", "signing_key"]
