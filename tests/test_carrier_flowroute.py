"""Flowroute beyond the contract: the exact JSON:API send, its limits, every documented receipt status, and
the callback URL secret."""

from __future__ import annotations

import json

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
from fspbx_sms.carriers.flowroute import FLOWROUTE_STATUSES, MMS_MAX_BYTES, FlowrouteAdapter
from tests.carrier_cases import adapter_fixture, api_fixture, basic, capture, refused_before_sending
from tests.carrier_cases.flowroute import CASE

SMS = OutboundMessage(from_number="+12065551212", to_numbers=("+12065550100",), text="Hi ✓", reference="7")


api = api_fixture()
adapter = adapter_fixture(CASE)


def test_sms_body_is_exactly_the_documented_json_api_document(api, adapter):
    """No is_mms or media_urls on an SMS; numbers without the plus; the id of the 202 comes back queued."""
    seen = capture(api, CASE.send_path, CASE.send_ok("mdr2-0123"))
    result = adapter.send(SMS)
    assert (result.carrier_message_id, result.status) == ("mdr2-0123", DeliveryStatus.QUEUED)
    assert json.loads(seen[0].get_data()) == {
        "data": {"type": "message", "attributes": {"to": "12065550100", "from": "12065551212", "body": "Hi ✓"}}
    }
    assert seen[0].headers["Authorization"] == basic("12345678", "fr-secret-contract")


def test_media_only_mms_has_no_body(api, adapter):
    seen = capture(api, CASE.send_path, CASE.send_ok("mdr2-0124"))
    adapter.send(OutboundMessage("+12065551212", ("+12065550100",), "", ("https://sms.example.com/m/1",)))
    attributes = json.loads(seen[0].get_data())["data"]["attributes"]
    assert attributes == {
        "to": "12065550100", "from": "12065551212", "is_mms": True, "media_urls": ["https://sms.example.com/m/1"]
    }


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (OutboundMessage("+12065551212", ("+12065550100", "+12065550101"), "hi"), "exactly one number"),
        (OutboundMessage("+12065551212", ("+12065550100",), ""), "needs text or media"),
        (OutboundMessage("+12065551212", ("sip:1001@pbx",), "hi"), "not an E.164 number"),
        (OutboundMessage("+12065551212", ("+12065550100",), "x" * (MMS_MAX_BYTES + 1), ("https://m/1",)), "750000"),
    ],
)
def test_what_flowroute_cannot_send_is_refused_before_sending(api, adapter, message, complaint):
    """Permanent errors raised locally; the fake API (expecting nothing) fails the test if anything is sent."""
    assert complaint in str(refused_before_sending(api, adapter, message))


def test_a_202_without_an_id_is_an_error(api, adapter):
    capture(api, CASE.send_path, (202, {"Content-Type": "application/vnd.api+json"}, b'{"data": {}}'))
    with pytest.raises(CarrierError, match=r"no data\.id"):
        adapter.send(SMS)


def test_errors_keep_flowroutes_title_and_detail(api, adapter):
    capture(api, CASE.send_path, CASE.send_error("permanent"))
    with pytest.raises(CarrierError) as failed:
        adapter.send(SMS)
    assert failed.value.code == "400"
    assert failed.value.message == (
        "Client Error: Could not geocode this address. Please check the validity of your address."
    )


@pytest.mark.parametrize(("carrier_status", "ours"), sorted(FLOWROUTE_STATUSES.items()))
def test_every_documented_receipt_status_is_mapped(carrier_status, ours):
    adapter = CASE.adapter()
    body = CASE.status_body(carrier_status.upper(), "mdr2-77")
    (event,) = adapter.handle_webhook(CASE.webhook(body))
    assert isinstance(event, StatusUpdate)
    assert (event.carrier_message_id, event.status) == ("mdr2-77", ours)
    assert event.error_code is None  # the delivered example has no status_code


def test_a_failed_receipt_keeps_its_code_and_description():
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(CASE.payload("dlr-level2-undeliverable.json")))
    assert (event.status, event.error_code, event.error_text) == (
        DeliveryStatus.UNDELIVERED, "1006", "Message undeliverable"
    )
    assert event.occurred_at.isoformat() == "2017-12-21T16:44:41+00:00"


def test_a_successful_receipt_has_no_error_even_with_a_status_code():
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(CASE.payload("dlr-level2-message-buffered.json")))
    assert (event.status, event.error_code, event.error_text) == (DeliveryStatus.SENT, None, None)


def test_inbound_mms_media_comes_from_included_with_its_type():
    body = json.loads(CASE.payload("inbound-mms.json"))
    body["included"].append({"id": "y-2", "type": "media", "attributes": {"url": "https://s3/x2", "mime_type": ""}})
    body["included"].append({"id": "z", "type": "other", "attributes": {}})
    (event,) = CASE.adapter().handle_webhook(CASE.webhook(json.dumps(body).encode()))
    assert isinstance(event, InboundMessage)
    assert event.media == (
        InboundMedia("https://s3.us-west-2.amazonaws.com/flowroute-messaging-media/xxxxxxxxx", "image/png"),
        InboundMedia("https://s3/x2", None),
    )
    assert event.received_at.isoformat() == "2022-09-03T20:40:11+00:00"


def test_outbound_message_records_and_unknown_types_are_ignored():
    body = json.loads(CASE.payload("inbound-sms.json"))
    body["data"]["attributes"]["direction"] = "outbound"
    assert CASE.adapter().handle_webhook(CASE.webhook(json.dumps(body).encode())) == []
    body["data"]["type"] = "number"
    assert CASE.adapter().handle_webhook(CASE.webhook(json.dumps(body).encode())) == []


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"data": {"id": "m", "type": "message"}}', b"\xff"])
def test_bodies_flowroute_does_not_send_are_parse_errors(body):
    with pytest.raises(WebhookParseError):
        CASE.adapter().handle_webhook(CASE.webhook(body))


def test_a_callback_without_the_secret_is_401_and_with_a_wrong_one_403():
    adapter = CASE.adapter()
    body = CASE.payload("inbound-sms.json")
    with pytest.raises(WebhookAuthError) as missing:
        adapter.handle_webhook(CASE._posted(body, None))
    assert missing.value.status_code == 401
    with pytest.raises(WebhookAuthError) as wrong:
        adapter.handle_webhook(CASE.forged(body))
    assert wrong.value.status_code == 403
    assert CASE.webhook_secret not in str(wrong.value)


def test_an_account_without_a_webhook_secret_accepts_no_callback():
    adapter = FlowrouteAdapter(CASE.credentials())
    with pytest.raises(WebhookAuthError):
        adapter.handle_webhook(CASE.webhook(CASE.payload("inbound-sms.json")))


def test_credentials_are_documented_and_the_secret_key_is_secret():
    assert [(f.name, f.required, f.secret) for f in FlowrouteAdapter.credential_fields] == [
        ("access_key", True, False), ("secret_key", True, True)
    ]
    with pytest.raises(CarrierConfigError) as refused:
        FlowrouteAdapter({**CASE.credentials(), "api_key": "x"})
    assert refused.value.setting == "api_key"
    assert FlowrouteAdapter.url_secret
    assert FlowrouteAdapter.webhook_url("https://pbx.example.com/", 4, "s3cr3t") == (
        "https://pbx.example.com/webhooks/flowroute/4?secret=s3cr3t"
    )
