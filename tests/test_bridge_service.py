"""The bridge in the real service (``fspbx-sms run`` subprocess) against the ESL simulator over TCP: texts
between extensions wait for an offline extension, survive a crash of the gateway, and reach every device
of the extension once, oldest first."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from fspbx_sms.models import Message, MessageStatus, SipDeviceDelivery
from tests.telnyx_account import Telnyx


def _messages(db_engine) -> list[Message]:
    with Session(db_engine) as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def test_waiting_texts_survive_a_crash_and_reach_every_device_in_order_once(service, httpserver, esl, db_engine):
    """1001 texts offline 1002 three times; the gateway is killed; 1002's desk phone, softphone and mobile
    app register meanwhile; the restarted gateway resyncs and delivers all three texts to all three devices,
    in order, and refreshes send nothing again."""
    Telnyx(service, httpserver)  # the carrier account the numbers need
    for extension in ("1001", "1002"):
        service.cli("number", "add", f"+1555000{extension}", "--carrier", "telnyx-main",
                    "--extension", f"{extension}@pbx.test")
    service.wait_esl_connected()
    esl.register("1001")
    for number in (1, 2, 3):
        esl.phone_message("1001", "1002", f"note {number}")
    esl.wait_for(lambda: len(_messages(db_engine)) == 3, timeout=10)
    time.sleep(0.3)
    assert esl.deliveries == []

    service.kill()
    devices = [
        esl.register("1002", user_agent="Yealink SIP-T46U", network_ip="192.0.2.10"),
        esl.register("1002", user_agent="Zoiper 5", network_ip="192.0.2.20"),
        esl.register("1002", user_agent="Linphone Android", network_ip="198.51.100.7"),
    ]
    service.start()
    esl.wait_for(lambda: len(esl.deliveries) == 9, timeout=15)
    for contact in devices:
        assert [d.body for d in esl.deliveries if d.contact == contact] == [b"note 1", b"note 2", b"note 3"]
    esl.wait_for(lambda: all(m.status == MessageStatus.SENT for m in _messages(db_engine)), timeout=10)
    for contact in devices:
        esl.register("1002", contact=contact)
    time.sleep(0.5)
    assert len(esl.deliveries) == 9
    with Session(db_engine) as session:
        outcomes = session.scalars(select(SipDeviceDelivery.status)).all()
    assert outcomes == ["sent"] * 9
