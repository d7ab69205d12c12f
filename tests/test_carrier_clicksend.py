"""ClickSend beyond the contract: failures inside an HTTP 200, the MMS limits, both push formats, and every
receipt status."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from fspbx_sms.carriers import (
    CarrierConfigError,
    CarrierError,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
)
from fspbx_sms.carriers.clicksend import CLICKSEND_STATUSES, MMS_MAX_GSM_CHARS, MMS_MAX_UNICODE_CHARS, ClickSendAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, capture, refused_before_sending
from tests.carrier_cases.clicksend import CASE

SMS = OutboundMessage(from_number="+61411111111", to_numbers=("+61422222222",), text="Hello", reference="9")
JSON = {"Content-Type": "application/json"}


api = api_fixture()
adapter = adapter_fixture(CASE)


def test_sms_request_is_exactly_the_documented_body(api, adapter):
    seen = capture(api, "/v3/sms/send", CASE.send_ok("ID-1"))
    result = adapter.send(SMS)
    assert (result.carrier_message_id, result.status) == ("ID-1", DeliveryStatus.QUEUED)
    assert seen[0].get_json() == {
        "messages": [{"source": "fspbx-sms", "from": "+61411111111", "to": "+61422222222", "body": "Hello"}]
    }


def test_mms_request_carries_the_media_file_and_the_configured_subject(api):
    seen = capture(api, "/v3/mms/send", CASE.send_ok("ID-2"))
    adapter = CASE.api_adapter(api, mms_subject="From the office")
    adapter.send(OutboundMessage("+61411111111", ("+61422222222",), "", ("https://sms.example.com/m/1.jpg",)))
    assert seen[0].get_json() == {
        "media_file": "https://sms.example.com/m/1.jpg",
        "messages": [{"source": "fspbx-sms", "from": "+61411111111", "to": "+61422222222", "body": "",
                      "subject": "From the office"}],
    }


@pytest.mark.parametrize(
    ("name", "code", "retryable"),
    [
        ("send-response-invalid-recipient.json", "INVALID_RECIPIENT", False),
        ("send-response-insufficient-credit.json", "INSUFFICIENT_CREDIT", True),
    ],
)
def test_a_failed_message_inside_an_http_200_raises(api, adapter, name, code, retryable):
    """ClickSend's HTTP 200 says nothing about the message: its own status does."""
    capture(api, "/v3/sms/send", (200, JSON, CASE.payload(name)))
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert (failed.value.code, failed.value.retryable, failed.value.status_code) == (code, retryable, 200)
    assert code in str(failed.value)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"data": null}', b'{"data": {"messages": []}}', b'{"data": {"messages": [{"status": "SUCCESS"}]}}'],
)
def test_an_unusable_200_is_an_error(api, adapter, body):
    capture(api, "/v3/sms/send", (200, JSON, body))
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert not failed.value.retryable


def test_unauthorized_keeps_clicksends_code_and_message(api, adapter):
    capture(api, "/v3/sms/send", (401, JSON, CASE.payload("error-401-unauthorized.json")))
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert (failed.value.code, failed.value.message, failed.value.retryable) == (
        "UNAUTHORIZED", "Authorization failed.", False
    )


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (OutboundMessage("+61411111111", ("+61422222222",), "hi", ("https://m/1", "https://m/2")), "1 attachment"),
        (OutboundMessage("+61411111111", ("+61422222222",), "a" * (MMS_MAX_GSM_CHARS + 1), ("https://m/1",)), "1500"),
        (OutboundMessage("+61411111111", ("+61422222222",), "✓" * (MMS_MAX_UNICODE_CHARS + 1), ("https://m/1",)),
         "500"),
        (OutboundMessage("+61411111111", ("+61422222222",), ""), "needs text"),
        (OutboundMessage("+61411111111", ("+61422222222", "+61433333333"), "hi"), "exactly one number"),
    ],
)
def test_what_clicksend_cannot_send_is_refused_before_sending(api, adapter, message, complaint):
    assert complaint in str(refused_before_sending(api, adapter, message))


def test_mms_text_at_the_limits_is_sent(api, adapter):
    seen = capture(api, "/v3/mms/send", CASE.send_ok("ID-3"))
    adapter.send(OutboundMessage("+61411111111", ("+61422222222",), "€" * MMS_MAX_GSM_CHARS, ("https://m/1",)))
    adapter.send(OutboundMessage("+61411111111", ("+61422222222",), "✓" * MMS_MAX_UNICODE_CHARS, ("https://m/1",)))
    assert len(seen) == 2


def test_the_mms_subject_must_fit_twenty_characters():
    with pytest.raises(CarrierConfigError) as refused:
        ClickSendAdapter({**CASE.credentials(), "mms_subject": "x" * 21})
    assert refused.value.setting == "mms_subject"


@pytest.mark.parametrize(("carrier_status", "ours"), sorted(CLICKSEND_STATUSES.items()))
def test_every_receipt_status_is_mapped_whatever_its_case(carrier_status, ours):
    body = CASE.status_body(carrier_status.upper(), "ID-77")
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(body))
    assert isinstance(event, StatusUpdate)
    assert (event.carrier_message_id, event.status) == ("ID-77", ours)


def test_a_failed_receipt_keeps_the_error_and_a_delivered_one_has_none():
    adapter = CASE.adapter()
    (failed,) = adapter.handle_webhook(CASE.webhook(CASE.payload("dlr-undelivered.json")))
    assert (failed.error_code, failed.error_text) == ("301", "Failed: Message expired.")
    assert failed.occurred_at.isoformat() == "2015-12-27T07:07:10+00:00"
    (delivered,) = adapter.handle_webhook(CASE.webhook(CASE.payload("dlr-delivered.form")))
    assert (delivered.error_code, delivered.error_text) == (None, None)


def test_a_failed_receipt_without_error_fields_falls_back_to_its_status_code():
    body = urlencode({"message_id": "ID-5", "status": "Failed", "status_code": "300", "status_text": "Failed"})
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(body.encode()))
    assert (event.status, event.error_code, event.error_text) == (DeliveryStatus.FAILED, "300", "Failed")


def test_the_same_inbound_message_as_form_or_json_gives_the_same_event():
    fields = {"message_id": "M1", "from": "+61411111111", "to": "+61422222222", "body": "a&b=c ✓", "timestamp": "1"}
    adapter = CASE.adapter()
    (from_form,) = adapter.handle_webhook(CASE.webhook(urlencode(fields).encode()))
    (from_json,) = adapter.handle_webhook(CASE.webhook(json.dumps(fields).encode()))
    assert isinstance(from_form, InboundMessage)
    assert (from_form.text, from_form.carrier_message_id) == ("a&b=c ✓", "M1")
    assert (from_form.text, from_form.to_numbers, from_form.received_at) == (
        from_json.text, from_json.to_numbers, from_json.received_at
    )


def test_clicksends_example_push_gives_the_same_event_as_json_or_form():
    """The JSON push carries numbers (timestamp, user_id) where the form carries text."""
    adapter = CASE.adapter()
    (from_json,) = adapter.handle_webhook(CASE.webhook(CASE.payload("inbound-sms.json")))
    (from_form,) = adapter.handle_webhook(CASE.webhook(CASE.payload("inbound-sms.form")))
    assert from_json.received_at == from_form.received_at
    assert from_json.received_at.isoformat() == "2026-04-01T03:08:47+00:00"
    assert (from_json.carrier_message_id, from_json.text) == (from_form.carrier_message_id, from_form.text)


@pytest.mark.parametrize("body", [b"user_id=1&subaccount_id=1", b"", b"{}"])
def test_pushes_of_neither_kind_are_ignored(body):
    assert CASE.adapter().handle_webhook(CASE.webhook(body)) == []


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"from=%2B6141&body=hi", b'{"from": "+6141", "body": 5, "message_id": "x", "to": "y"}', b"[1]"],
)
def test_bodies_clicksend_does_not_send_are_parse_errors(body):
    with pytest.raises(WebhookParseError):
        CASE.adapter().handle_webhook(CASE.webhook(body))


def test_a_push_without_the_secret_is_401_and_with_a_wrong_one_403():
    adapter = CASE.adapter()
    body = CASE.payload("inbound-sms.form")
    with pytest.raises(WebhookAuthError) as missing:
        adapter.handle_webhook(CASE.forged(body))
    assert missing.value.status_code == 401
    with pytest.raises(WebhookAuthError) as wrong:
        adapter.handle_webhook(CASE._posted(body, CASE.webhook_secret + "x", None))
    assert wrong.value.status_code == 403


def test_credentials_are_documented_and_the_api_key_is_secret():
    assert [(f.name, f.required, f.secret) for f in ClickSendAdapter.credential_fields] == [
        ("username", True, False), ("api_key", True, True), ("mms_subject", False, False)
    ]
    assert ClickSendAdapter.url_secret
