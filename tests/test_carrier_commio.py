"""Commio beyond the contract: ten-digit DIDs, the one-media MMS form, every notification status, inbound ids
without a carrier id, and the webhook URL secret."""

from __future__ import annotations

import base64
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
)
from fspbx_sms.carriers.commio import COMMIO_STATUSES, CommioAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, capture, refused_before_sending
from tests.carrier_cases.commio import CASE

ROOT = "/account/1234/product/origination"
SMS = OutboundMessage(from_number="+12065551212", to_numbers=("+12067791234",), text="Simple Message ☺", reference="3")
JSON = {"Content-Type": "application/json"}
GUID_1002 = (200, JSON, b'{ "guid": "1002" }')


api = api_fixture()
adapter = adapter_fixture(CASE)


def test_sms_is_json_with_ten_digit_dids(api, adapter):
    seen = capture(api, f"{ROOT}/sms/send", GUID_1002)
    result = adapter.send(SMS)
    assert (result.carrier_message_id, result.status) == ("1002", DeliveryStatus.QUEUED)
    assert seen[0].get_json() == {"from_did": "2065551212", "to_did": "2067791234", "message": "Simple Message ☺"}
    assert seen[0].headers["Authorization"] == "Basic dXNlcjE6c2VzYW1l"  # user1:sesame, as in Commio's examples


def test_mms_is_a_multipart_form_with_one_media_url(api, adapter):
    seen = capture(api, f"{ROOT}/mms/send", GUID_1002)
    adapter.send(OutboundMessage("12065551212", ("2067791234",), "", ("https://sms.example.com/m/1.jpg",)))
    assert seen[0].mimetype == "multipart/form-data"
    assert seen[0].form.to_dict() == {
        "from_did": "2065551212", "to_did": "2067791234", "media_url": "https://sms.example.com/m/1.jpg"
    }


def test_a_numeric_guid_is_kept_as_text(api, adapter):
    capture(api, f"{ROOT}/sms/send", (200, JSON, b'{"guid": 98765}'))
    assert adapter.send(SMS).carrier_message_id == "98765"


@pytest.mark.parametrize("body", [b"{}", b'{"guid": ""}', b"[]", b"<html>"])
def test_a_200_without_a_guid_is_an_error(api, adapter, body):
    capture(api, f"{ROOT}/sms/send", (200, JSON, body))
    with pytest.raises(CarrierError, match="no guid"):
        adapter.send(SMS)


def test_an_error_body_with_code_and_message_keeps_both(api, adapter):
    capture(api, f"{ROOT}/sms/send", (400, JSON, b'{"code": 400, "message": "Invalid destination DID"}'))
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert (failed.value.code, failed.value.message) == ("400", "Invalid destination DID")
    assert not failed.value.retryable


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (OutboundMessage("+12065551212", ("+12067791234",), "caption", ("https://m/1",)), "without text"),
        (OutboundMessage("+12065551212", ("+12067791234",), "", ("https://m/1", "https://m/2")), "2 media URL"),
        (OutboundMessage("+12065551212", ("+442071234567",), "hi"), "not a US/Canadian number"),
        (OutboundMessage("+12065551212", ("+12067791234",), ""), "needs text"),
        (OutboundMessage("+12065551212", ("+12067791234", "+12067791235"), "hi"), "exactly one number"),
    ],
)
def test_what_commio_cannot_send_is_refused_before_sending(api, adapter, message, complaint):
    assert complaint in str(refused_before_sending(api, adapter, message))


@pytest.mark.parametrize(("carrier_status", "ours"), sorted(COMMIO_STATUSES.items()))
def test_every_notification_status_is_mapped(carrier_status, ours):
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(CASE.status_body(carrier_status.lower(), "g-1")))
    assert isinstance(event, StatusUpdate)
    assert (event.carrier_message_id, event.status) == ("g-1", ours)


def test_a_failed_notification_keeps_its_error_and_a_delivered_one_has_none():
    adapter = CASE.adapter()
    (failed,) = adapter.handle_webhook(CASE.webhook(CASE.payload("dlr-undelivered.form")))
    assert (failed.error_code, failed.error_text) == ("001", "undelivered")
    body = urlencode({"guid": "g-2", "status": "DELIVRD", "send_status": "delivered", "error": "000"}).encode()
    (delivered,) = adapter.handle_webhook(CASE.webhook(body))
    assert (delivered.status, delivered.error_code, delivered.error_text) == (DeliveryStatus.DELIVERED, None, None)


def test_an_mms_sent_as_base64_becomes_a_data_url():
    picture = base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg").decode()
    body = urlencode({"message": picture, "from": "2065551234", "type": "mms", "to": "2065551212"}).encode()
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(body))
    assert isinstance(event, InboundMessage)
    assert event.media == (InboundMedia(f"data:application/octet-stream;base64,{picture}", None),)


def test_inbound_ids_follow_the_body():
    """The same request twice (a redelivery) has one id; any difference in the request gives another."""
    adapter = CASE.adapter()
    body = CASE.payload("inbound-sms.form")
    (first,) = adapter.handle_webhook(CASE.webhook(body))
    (again,) = adapter.handle_webhook(CASE.webhook(body))
    (other,) = adapter.handle_webhook(CASE.webhook(body.replace(b"hello", b"hallo")))
    assert first.carrier_message_id == again.carrier_message_id != other.carrier_message_id


def test_json_webhooks_are_read_too():
    body = b'{"from": "12065551234", "to": "2065551212", "type": "sms", "message": "hi"}'
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(body, content_type="application/json"))
    assert (event.from_number, event.to_numbers, event.text) == ("+12065551234", ("+12065551212",), "hi")


@pytest.mark.parametrize("body", [b"", b"from=2065551234&to=2065551212&type=fax&message=x", b"account_id=1"])
def test_requests_of_neither_kind_are_ignored(body):
    assert CASE.adapter().handle_webhook(CASE.webhook(body)) == []


@pytest.mark.parametrize("body", [b"\xff", b"from=2065551234&type=sms&message=hi", b"from=1&type=sms&to=2&x"])
def test_bodies_commio_does_not_send_are_parse_errors(body):
    with pytest.raises(WebhookParseError):
        CASE.adapter().handle_webhook(CASE.webhook(body))


def test_a_webhook_without_the_secret_is_401_and_with_a_wrong_one_403():
    adapter = CASE.adapter()
    body = CASE.payload("inbound-sms.form")
    with pytest.raises(WebhookAuthError) as missing:
        adapter.handle_webhook(CASE._posted(body, None, None))
    assert missing.value.status_code == 401
    with pytest.raises(WebhookAuthError) as wrong:
        adapter.handle_webhook(CASE.forged(body))
    assert wrong.value.status_code == 403


@pytest.mark.parametrize("account_id", ["acct-1234", "12 34"])
def test_the_account_id_must_be_numeric(account_id):
    with pytest.raises(CarrierConfigError) as refused:
        CommioAdapter({**CASE.credentials(), "account_id": account_id})
    assert refused.value.setting == "account_id"


def test_credentials_are_documented_and_the_token_is_secret():
    assert [(f.name, f.required, f.secret) for f in CommioAdapter.credential_fields] == [
        ("account_id", True, False), ("username", True, False), ("api_token", True, True)
    ]
    assert CommioAdapter.url_secret
