"""A faithful fake of FreeSWITCH 1.10.12's event socket (mod_event_socket + mod_sofia + mod_sms) for tests.

It is a real TCP server on 127.0.0.1 with plain threads, answering byte for byte as the recordings in
``tests/transcripts/`` show. See :class:`EslSimulator`.
"""

from tests.esl_simulator.messaging import SipDelivery
from tests.esl_simulator.simulator import EslSimulator

__all__ = ["EslSimulator", "SipDelivery"]
