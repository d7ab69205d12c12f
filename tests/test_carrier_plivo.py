"""Plivo beyond the contract: the SDK's V3 signature vectors, every status, MMS numbering, limits, errors."""

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
from fspbx_sms.carriers.plivo import PLIVO_STATUSES, PlivoAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, refused_before_sending
from tests.carrier_cases.plivo import AUTH_ID, AUTH_TOKEN, CASE, URL, plivo_v3_signature

SMS = OutboundMessage(from_number="14155551234", to_numbers=("14155557654",), text="Hello", reference="1")

# plivo/plivo-go utils_test.go, TestValidateSignatureV3Pass1…4: one call's parameters, POST and GET, with and
# without a query string; the auth token and nonce are the test's.
VECTOR_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
VECTOR_NONCE = "31627761595286130198"
VECTOR_PARAMS = {
    "Direction": "outbound",
    "From": "19792014278",
    "ALegUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallStatus": "in-progress",
    "BillRate": "0.002",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
    "ALegRequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "RequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "SessionStart": "2020-04-08 11:34:33.238707",
    "Event": "StartApp",
}
VECTOR_URL = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml"


api = api_fixture()
adapter = adapter_fixture(CASE)


def _signed(method: str, url: str, body: bytes, signature: str, nonce: str = VECTOR_NONCE) -> WebhookRequest:
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
    return WebhookRequest(method=method, url=url, headers=headers, query={}, body=body)


# -- Plivo's published V3 vectors --------------------------------------------------------------------

FORM = urlencode(VECTOR_PARAMS)


@pytest.mark.parametrize(
    ("method", "url", "body", "signature"),
    [
        ("POST", VECTOR_URL + "/?a=b&c=d", FORM.encode(), "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="),
        ("POST", VECTOR_URL, FORM.encode(), "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="),
        # A GET carries the parameters in its query string.
        ("GET", VECTOR_URL + "/?a=b&c=d&" + FORM, b"", "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="),
        ("GET", VECTOR_URL + "?" + FORM, b"", "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="),
    ],
    ids=["post-query", "post", "get-query", "get"],
)
def test_plivos_published_v3_signatures_are_accepted(method, url, body, signature):
    adapter = PlivoAdapter({"auth_id": AUTH_ID, "auth_token": VECTOR_TOKEN})
    adapter.verify(_signed(method, url, body, signature))


def test_any_of_several_signatures_is_enough():
    # Plivo sends one signature per active auth token, comma-separated.
    adapter = PlivoAdapter({"auth_id": AUTH_ID, "auth_token": VECTOR_TOKEN})
    signatures = "c29tZXRoaW5nIGVsc2U=, iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="
    adapter.verify(_signed("POST", VECTOR_URL, FORM.encode(), signatures))


@pytest.mark.parametrize(
    "change",
    [{"nonce": "31627761595286130199"}, {"url": VECTOR_URL + "?x=1"}, {"body": FORM.replace("outbound", "inbound")}],
    ids=["other-nonce", "other-url", "other-field"],
)
def test_the_vector_signature_does_not_fit_anything_else(change):
    adapter = PlivoAdapter({"auth_id": AUTH_ID, "auth_token": VECTOR_TOKEN})
    request = _signed(
        "POST",
        change.get("url", VECTOR_URL),
        change.get("body", FORM).encode(),
        "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=",
        change.get("nonce", VECTOR_NONCE),
    )
    with pytest.raises(WebhookAuthError) as refused:
        adapter.verify(request)
    assert refused.value.status_code == 403


@pytest.mark.parametrize("missing", ["X-Plivo-Signature-V3", "X-Plivo-Signature-V3-Nonce"])
def test_missing_signature_headers_are_unauthenticated(missing):
    request = CASE.webhook(CASE.payload("status-sent.form"))
    headers = {name: value for name, value in request.headers.items() if name != missing}
    with pytest.raises(WebhookAuthError) as refused:
        CASE.adapter().handle_webhook(WebhookRequest("POST", URL, headers, {}, request.body))
    assert refused.value.status_code == 401


# -- Plivo's published V2 vector (messaging callbacks) -----------------------------------------------
# plivo/plivo-ruby spec/signature_spec.rb and plivo/plivo-dotnet TestSignature.cs (TestSignatureV2Pass/Fail).
V2_URL, V2_NONCE, V2_TOKEN = "https://answer.url", "12345", "my_auth_token"
V2_SIGNATURE = "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="


def _v2(url: str, signature: str, *, header: str = "X-Plivo-Signature-V2", nonce: str = V2_NONCE) -> WebhookRequest:
    headers = {header: signature, "X-Plivo-Signature-V2-Nonce": nonce}
    return WebhookRequest(method="POST", url=url, headers=headers, query={}, body=CASE.payload("status-sent.form"))


@pytest.mark.parametrize("header", ["X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2"])
def test_plivos_published_v2_signature_is_accepted_without_v3_headers(header):
    adapter = PlivoAdapter({"auth_id": AUTH_ID, "auth_token": V2_TOKEN})
    adapter.verify(_v2(V2_URL, V2_SIGNATURE, header=header))
    # V2 signs the URL without its query string.
    adapter.verify(_v2(V2_URL + "?account=1", V2_SIGNATURE))


@pytest.mark.parametrize(
    ("token", "url", "nonce"),
    [("my_auth_tokens", V2_URL, V2_NONCE), (V2_TOKEN, V2_URL + "/other", V2_NONCE), (V2_TOKEN, V2_URL, "12346")],
    ids=["other-token", "other-url", "other-nonce"],
)
def test_the_v2_vector_does_not_fit_anything_else(token, url, nonce):
    with pytest.raises(WebhookAuthError) as refused:
        PlivoAdapter({"auth_id": AUTH_ID, "auth_token": token}).verify(_v2(url, V2_SIGNATURE, nonce=nonce))
    assert refused.value.status_code == 403


def test_v3_headers_are_checked_even_when_v2_headers_are_valid():
    """A request with both: the stronger V3 decides (a valid V2 cannot cover forged fields)."""
    request = WebhookRequest(
        method="POST", url=V2_URL, query={}, body=CASE.payload("status-sent.form"),
        headers={"X-Plivo-Signature-V2": V2_SIGNATURE, "X-Plivo-Signature-V2-Nonce": V2_NONCE,
                 "X-Plivo-Signature-V3": "Zm9yZ2Vk", "X-Plivo-Signature-V3-Nonce": V2_NONCE},
    )
    with pytest.raises(WebhookAuthError):
        PlivoAdapter({"auth_id": AUTH_ID, "auth_token": V2_TOKEN}).verify(request)


def test_main_account_v3_signature_is_accepted():
    adapter = PlivoAdapter({"auth_id": AUTH_ID, "auth_token": VECTOR_TOKEN})
    request = WebhookRequest(
        method="POST", url=VECTOR_URL, query={}, body=FORM.encode(),
        headers={"X-Plivo-Signature-Ma-V3": "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=",
                 "X-Plivo-Signature-V3-Nonce": VECTOR_NONCE},
    )
    adapter.verify(request)


# -- webhooks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("plivo_status", "ours"), sorted(PLIVO_STATUSES.items()))
def test_every_plivo_status_maps(plivo_status, ours):
    [update] = CASE.adapter().handle_webhook(CASE.webhook(CASE.status_body(plivo_status, "uuid-1")))
    assert (update.carrier_message_id, update.status) == ("uuid-1", ours)


def test_delivered_code_000_is_no_error():
    [update] = CASE.adapter().handle_webhook(CASE.webhook(CASE.payload("status-delivered.form")))
    assert (update.status, update.error_code) == (DeliveryStatus.DELIVERED, None)


@pytest.mark.parametrize("text_field", ["Body", "Text"])
def test_media_numbered_from_zero_or_one_keep_their_order(text_field):
    # The incoming-message reference numbers media from 1 and puts MMS text in Body; the Messages API reference and
    # the Receive MMS guide read Text and Media0, and Plivo's support article numbers Media0, Media1…
    body = urlencode(
        {"MessageUUID": "u1", "From": "1", "To": "2", "Type": "mms", text_field: "Look", "MediaCount": "3",
         "Media10": "https://m/c", "Media0": "https://m/a", "Media2": "https://m/b"}
    ).encode()
    [message] = CASE.adapter().handle_webhook(CASE.webhook(body))
    assert message.text == "Look"
    assert [media.url for media in message.media] == ["https://m/a", "https://m/b", "https://m/c"]


@pytest.mark.parametrize(
    "body",
    [b"Status=delivered", b"Text=hi&From=1&To=2", b"MessageUUID=u&Text=hi&To=2", b"MessageUUID=u&Text=%E9&From=1&To=2"],
    ids=["status-without-uuid", "message-without-uuid", "message-without-from", "bad-utf8"],
)
def test_bodies_plivo_would_not_send_are_parse_errors(body):
    with pytest.raises(WebhookParseError):
        CASE.adapter().handle_webhook(CASE.webhook(body))


def test_callbacks_that_are_neither_message_nor_status_give_no_events():
    assert CASE.adapter().handle_webhook(CASE.webhook(b"CallUUID=c1&Event=StartApp")) == []


def test_the_contract_signer_matches_the_published_vector():
    # The contract case signs with its own helper; it must agree with Plivo's SDK.
    signature = plivo_v3_signature(VECTOR_TOKEN, VECTOR_URL, FORM.encode(), VECTOR_NONCE)
    assert signature == "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="


# -- sending ---------------------------------------------------------------------------------------


def test_send_mms_with_status_callback(api):
    callback = "https://sms.example.com/webhooks/plivo/1"
    api.expect_oneshot_request(
        CASE.send_path,
        method="POST",
        json={"src": "14155551234", "dst": "14155557654", "type": "mms",
              "media_urls": ["https://sms.example.com/media/a"], "url": callback, "method": "POST"},
    ).respond_with_data(CASE.payload("send-response.json"), status=202, content_type="application/json")
    adapter = CASE.api_adapter(api, status_callback=callback)
    try:
        result = adapter.send(
            OutboundMessage("14155551234", ("14155557654",), "", ("https://sms.example.com/media/a",))
        )
    finally:
        adapter.close()
    assert (result.carrier_message_id, result.status) == ("5b40a428-bfc7-4daf-9d06-726c558bf3b8", DeliveryStatus.QUEUED)


@pytest.mark.parametrize(
    ("body", "http_status", "text", "retryable"),
    [
        (CASE.payload("error-400-invalid-number.json"), 400, "19332631167 is not a valid phone number", False),
        (CASE.payload("error-400-not-mms-enabled.json"), 400, "19003356789 is not an MMS enabled phone number", False),
        # Plivo's 401 carries no api_id.
        (CASE.payload("error-401-credentials-not-provided.json"), 401, "authentication credentials were not provided",
         False),
        (b'{"api_id": "x", "error": {"dst": "invalid number"}}', 400, "dst: invalid number", False),
        (b"<html>bad gateway</html>", 502, "BAD GATEWAY", True),
    ],
    ids=["invalid-number", "not-mms-enabled", "auth-no-api-id", "field-errors", "proxy-502"],
)
def test_send_errors_keep_plivos_text(api, adapter, body, http_status, text, retryable):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_data(body, status=http_status)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert (failed.value.message, failed.value.code, failed.value.retryable) == (text, None, retryable)


def test_an_accepted_send_without_message_uuid_is_not_retried(api, adapter):
    api.expect_oneshot_request(CASE.send_path, method="POST").respond_with_json({"message_uuid": []}, status=202)
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage("14155551234", ("14155557654",), "x" * 1601),
        OutboundMessage("14155551234", ("14155557654",), "", tuple(f"https://m/{i}" for i in range(11))),
        OutboundMessage("14155551234", ("14155557654", "14155557655"), "hi"),
        OutboundMessage("14155551234", ("14155557654",), ""),
    ],
    ids=["text-too-long", "too-many-media", "group", "empty"],
)
def test_messages_over_plivos_limits_fail_for_good_without_a_request(api, adapter, message):
    refused_before_sending(api, adapter, message)


# -- credentials -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "setting"),
    [({"auth_id": "MA123"}, "auth_id"), ({"auth_id": "XA" + "X" * 18}, "auth_id"),
     ({"status_callback": "callback"}, "status_callback")],
)
def test_bad_credentials_name_the_setting_and_never_echo_the_token(change, setting):
    with pytest.raises(CarrierConfigError) as refused:
        PlivoAdapter({**CASE.credentials(), **change})
    assert refused.value.setting == setting
    assert AUTH_TOKEN not in str(refused.value)
