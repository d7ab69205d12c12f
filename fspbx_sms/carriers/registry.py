"""The explicit list of carriers: provider key → adapter class. Add a carrier here and nowhere else."""

from __future__ import annotations

from fspbx_sms.carriers.bandwidth import BandwidthAdapter
from fspbx_sms.carriers.base import CarrierAdapter, CarrierConfigError
from fspbx_sms.carriers.clicksend import ClickSendAdapter
from fspbx_sms.carriers.commio import CommioAdapter
from fspbx_sms.carriers.flowroute import FlowrouteAdapter
from fspbx_sms.carriers.plivo import PlivoAdapter
from fspbx_sms.carriers.signalwire import SignalWireAdapter
from fspbx_sms.carriers.sinch import SinchAdapter
from fspbx_sms.carriers.telnyx import TelnyxAdapter
from fspbx_sms.carriers.twilio import TwilioAdapter
from fspbx_sms.carriers.vonage import VonageAdapter

#: Every carrier we can talk to, by the ``provider`` key stored on carrier accounts.
PROVIDERS: dict[str, type[CarrierAdapter]] = {
    adapter.provider: adapter
    for adapter in (
        TelnyxAdapter,
        TwilioAdapter,
        SignalWireAdapter,
        PlivoAdapter,
        BandwidthAdapter,
        SinchAdapter,
        VonageAdapter,
        FlowrouteAdapter,
        ClickSendAdapter,
        CommioAdapter,
    )
}


def get_adapter_class(provider: str) -> type[CarrierAdapter]:
    """The adapter class for ``provider`` (e.g. ``"telnyx"``); :class:`CarrierConfigError` if unknown."""
    try:
        return PROVIDERS[provider.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise CarrierConfigError("provider", f"unknown carrier {provider!r} (known: {known})") from None
