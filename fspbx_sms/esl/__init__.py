"""FreeSWITCH event socket layer: a supervised connection, texts to phones, and typed events.

Knows nothing about carriers or the database; the core talks to it through :class:`EslClient`.
"""

from fspbx_sms.esl.client import SUBSCRIPTION, EslClient, EslUnavailable
from fspbx_sms.esl.events import ChatResult, PhoneText, Registration, VoicemailLeft
from fspbx_sms.esl.registrations import DeviceContact

__all__ = [
    "SUBSCRIPTION",
    "ChatResult",
    "DeviceContact",
    "EslClient",
    "EslUnavailable",
    "PhoneText",
    "Registration",
    "VoicemailLeft",
]
