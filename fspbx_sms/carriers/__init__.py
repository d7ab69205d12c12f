"""Carrier adapters: one module per carrier, translating between its HTTP API and our common model.

See ``docs/carriers.md`` for the interface and how to add a carrier.
"""

from fspbx_sms.carriers.base import (
    CarrierAdapter,
    CarrierConfigError,
    CarrierError,
    CredentialField,
    DeliveryStatus,
    ErrorDetail,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
)
from fspbx_sms.carriers.registry import PROVIDERS, get_adapter_class

__all__ = [
    "PROVIDERS",
    "CarrierAdapter",
    "CarrierConfigError",
    "CarrierError",
    "CredentialField",
    "DeliveryStatus",
    "ErrorDetail",
    "InboundMedia",
    "InboundMessage",
    "OutboundMessage",
    "SendResult",
    "StatusUpdate",
    "WebhookAuthError",
    "WebhookParseError",
    "WebhookRequest",
    "get_adapter_class",
]
