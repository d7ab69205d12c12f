"""Every carrier end to end: its documented inbound webhook, authenticated as the carrier does it, posted to the
real service, reaches the phone of the extension the number is routed to; the answer is what the carrier expects."""

from __future__ import annotations

import pytest

from fspbx_sms.carriers import get_adapter_class
from tests.carrier_cases import Inbound, all_cases
from tests.service_process import ServiceProcess

PUBLIC_URL = "https://sms.example.com"  # the URL the cases sign (account 1 on a fresh database)
CASES = [case for case in all_cases() if any(isinstance(e, Inbound) and e.text for _, es in case.fixtures for e in es)]


def _first_text(case) -> tuple[str, Inbound]:
    for name, expected in case.fixtures:
        for event in expected:
            if isinstance(event, Inbound) and event.text:
                return name, event
    raise AssertionError(f"{case.provider} has no inbound text fixture")


@pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])
def test_documented_inbound_text_reaches_the_phone(case, service_env, esl, tmp_path):
    """Provision through the CLI, post the documented payload with the carrier's own authentication, see it
    delivered once to 1001 with the texter as From, and the carrier's expected acknowledgement."""
    service = ServiceProcess(service_env, workdir=tmp_path, public_url=PUBLIC_URL)
    assignments = [arg for key, value in case.credentials().items() for arg in ("--set", f"{key}={value}")]
    account = service.cli_json("carrier", "add", "--provider", case.provider, "--name", "main", *assignments)
    assert account["id"] == 1
    name, inbound = _first_text(case)
    our_number = "+" + inbound.to_numbers[0].lstrip("+")  # some carriers write international numbers bare
    service.cli("number", "add", our_number, "--carrier", "main", "--extension", "1001@pbx.test")
    esl.register("1001", "pbx.test")
    service.start()
    try:
        service.wait_esl_connected()
        webhook = case.webhook(case.payload(name))
        query = dict(webhook.query)
        if get_adapter_class(case.provider).url_secret:
            query["secret"] = account["webhook_url"].split("secret=", 1)[1]
        path = webhook.url.removeprefix(PUBLIC_URL).split("?", 1)[0]
        headers = {key: value for key, value in webhook.headers.items() if key.lower() != "host"}
        answer = service.post(path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""),
                              webhook.body, headers)
        assert answer.status_code == 200, answer.text
        content_type, body = get_adapter_class(case.provider).webhook_ack
        assert answer.headers["Content-Type"].startswith(content_type)
        assert answer.content == body
        esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
        delivery = esl.deliveries[0]
        assert delivery.body.decode().startswith(inbound.text)
        assert inbound.from_number.lstrip("+") in delivery.from_header
    finally:
        service.stop()
