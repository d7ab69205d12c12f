"""Texts to phones through the bridge: every device of an extension, store and forward in order and exactly
once, per-device results, long texts in parts, several FreeSWITCH nodes, resync after either side restarts.

Everything runs over real TCP against the ESL simulator(s), on the test's real database.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest
from sqlalchemy import select

from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_store import LocalMediaStore
from fspbx_sms.models import JobKind, JobState, Media, MessageEvent, MessageStatus, SipRegistration
from tests.bridge_support import DOMAIN, TEXTER, Bridge, wait_until
from tests.esl_simulator import EslSimulator

DESK, SOFT, MOBILE = "192.0.2.10", "192.0.2.20", "198.51.100.7"
#: The smallest PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)


@pytest.fixture
def bridges(database_url) -> Iterator[list[Bridge]]:
    """Bridges a test builds (several when it restarts "our side"); all stopped afterwards."""
    built: list[Bridge] = []
    yield built
    for bridge in built:
        bridge.stop()


def start(bridges: list[Bridge], database_url: str, nodes: dict[str, EslSimulator], **options) -> Bridge:
    bridge = Bridge(database_url, nodes, **options).start()
    bridges.append(bridge)
    return bridge


def bodies(simulator: EslSimulator, contact: str | None = None) -> list[str]:
    return [d.body.decode() for d in simulator.deliveries if contact is None or d.contact == contact]


def test_desk_phone_softphone_and_mobile_app_all_get_the_text(esl, bridges, database_url):
    """Three devices of 1001 → three MESSAGEs, each recorded as ``sent`` for its device; a refresh is not
    a new device."""
    desk = esl.register("1001", user_agent="Yealink SIP-T46U", network_ip=DESK)
    soft = esl.register("1001", user_agent="Zoiper 5", network_ip=SOFT)
    bridge = start(bridges, database_url, {"fs1": esl})
    bridge.provision("1001")
    mobile = esl.register("1001", user_agent="Linphone Android", network_ip=MOBILE)
    wait_until(lambda: len(bridge.devices("1001")) == 3)
    esl.register("1001", contact=soft, user_agent="Zoiper 5", network_ip=SOFT)
    bridge.text_from_outside("1001", "lunch at noon?", "m-1")

    wait_until(lambda: bridge.messages()[0].status == MessageStatus.SENT)
    assert sorted(d.contact for d in esl.deliveries) == sorted([desk, soft, mobile])
    assert bodies(esl) == ["lunch at noon?"] * 3
    assert all(TEXTER in d.from_header for d in esl.deliveries)
    outcomes = {(row.contact, row.user_agent, row.status, row.sip_code) for row in bridge.device_deliveries()}
    assert outcomes == {
        (desk, "Yealink SIP-T46U", "sent", 202),
        (soft, "Zoiper 5", "sent", 202),
        (mobile, "Linphone Android", "sent", 202),
    }
    assert len(bridge.devices("1001")) == 3


def test_offline_extension_gets_waiting_texts_oldest_first_once(esl, bridges, database_url):
    """Three texts wait for an offline extension; its registration delivers them in order; refreshes and
    a second device's registration later send nothing again."""
    bridge = start(bridges, database_url, {"fs1": esl})
    bridge.provision("1001")
    for number in (1, 2, 3):
        bridge.text_from_outside("1001", f"waiting {number}", f"m-{number}")
    wait_until(lambda: [job.state for job in bridge.jobs()] == [JobState.WAITING] * 3)
    assert esl.deliveries == []

    phone = esl.register("1001")
    wait_until(lambda: len(esl.deliveries) == 3)
    assert bodies(esl) == ["waiting 1", "waiting 2", "waiting 3"]
    wait_until(lambda: all(m.status == MessageStatus.SENT for m in bridge.messages()))
    for _ in range(3):
        esl.register("1001", contact=phone)
    gevent.sleep(0.5)
    assert len(esl.deliveries) == 3
    assert [job.state for job in bridge.jobs()] == [JobState.DONE] * 3


def test_our_restart_mid_queue_loses_nothing(esl, bridges, database_url):
    """Texts queued, the gateway stops; the phone registers while we are away; the restarted gateway
    finds it by resync and delivers every text once, in order."""
    first = start(bridges, database_url, {"fs1": esl})
    first.provision("1001")
    for number in (1, 2, 3):
        first.text_from_outside("1001", f"queued {number}", f"m-{number}")
    wait_until(lambda: [job.state for job in first.jobs()] == [JobState.WAITING] * 3)
    first.stop()
    bridges.remove(first)

    esl.register("1001")
    second = start(bridges, database_url, {"fs1": esl})
    wait_until(lambda: len(esl.deliveries) == 3)
    assert bodies(esl) == ["queued 1", "queued 2", "queued 3"]
    wait_until(lambda: all(m.status == MessageStatus.SENT for m in second.messages()))
    gevent.sleep(0.3)
    assert len(esl.deliveries) == 3


def test_freeswitch_restart_disconnects_then_resync_corrects_registrations(esl, bridges, database_url):
    """FreeSWITCH shuts down (disconnect notice), comes back; we reconnect and rebuild the node's
    registrations from ``sofia xmlstatus``: a device whose expiry we never heard of is dropped."""
    phone = esl.register("1001")
    bridge = start(bridges, database_url, {"fs1": esl})
    bridge.provision("1001")
    wait_until(lambda: len(bridge.devices("1001")) == 1)
    with bridge.session() as session, session.begin():
        session.add(SipRegistration(node="fs1", user="1001", domain=DOMAIN, contact="sip:1001@203.0.113.9:5060"))
    assert len(bridge.devices("1001")) == 2

    esl.shutdown()
    wait_until(lambda: bridge.clients[0].reconnects == 1 and bridge.clients[0].state == "connected")
    wait_until(lambda: [d.contact for d in bridge.devices("1001")] == [phone])
    assert any(line.startswith("bgapi sofia xmlstatus profile internal reg") for line in esl.commands)

    bridge.text_from_outside("1001", "after the restart", "m-1")
    wait_until(lambda: len(esl.deliveries) == 1)
    assert esl.deliveries[0].contact == phone


def test_two_nodes_each_device_through_its_own_node(bridges, database_url):
    """1001's desk phone on fs1, its softphone on fs2: the text goes out through each device's node."""
    with EslSimulator(hostname="fs1") as fs1, EslSimulator(hostname="fs2") as fs2:
        desk = fs1.register("1001", network_ip=DESK)
        bridge = start(bridges, database_url, {"fs1": fs1, "fs2": fs2})
        bridge.provision("1001")
        soft = fs2.register("1001", network_ip=SOFT, user_agent="Zoiper 5")
        wait_until(lambda: {(d.node, d.contact) for d in bridge.devices("1001")} == {("fs1", desk), ("fs2", soft)})

        bridge.text_from_outside("1001", "both nodes", "m-1")
        wait_until(lambda: bridge.messages()[0].status == MessageStatus.SENT)
        assert [(d.contact, d.body) for d in fs1.deliveries] == [(desk, b"both nodes")]
        assert [(d.contact, d.body) for d in fs2.deliveries] == [(soft, b"both nodes")]
        assert {(row.node, row.status) for row in bridge.device_deliveries()} == {("fs1", "sent"), ("fs2", "sent")}
        bridge.stop()
        bridges.remove(bridge)


def test_device_results_timeout_retried_then_sent_and_404_not_retried(bridges, database_url):
    """A silent phone times out and is retried with backoff until it answers 200; a 404 (contact gone) is
    recorded as ``not_found`` and never sent again. Each device's outcome is recorded."""
    with EslSimulator(no_answer_delay=0.3, answer_delay=0.02) as esl:
        esl.register("1001", network_ip=DESK)
        esl.register("1002", network_ip=SOFT)
        bridge = start(bridges, database_url, {"fs1": esl}, result_timeout=2.0)
        bridge.provision("1001", "1002")
        esl.set_phone_response("1002", None)
        bridge.text_from_outside("1002", "are you there?", "m-1")
        wait_until(lambda: any(row.status == "timeout" for row in bridge.device_deliveries()))
        assert bridge.messages()[0].status == MessageStatus.QUEUED
        esl.set_phone_response("1002", 200)
        wait_until(lambda: bridge.messages()[0].status == MessageStatus.SENT)
        [row] = bridge.device_deliveries()
        assert (row.status, row.sip_code) == ("sent", 200)
        assert row.attempts == len(esl.deliveries) >= 2
        assert [d.code for d in esl.deliveries] == [None] * (len(esl.deliveries) - 1) + [200]

        esl.set_phone_response("1001", 404)
        bridge.text_from_outside("1001", "wrong number", "m-2")
        wait_until(lambda: bridge.messages()[1].status == MessageStatus.FAILED)
        assert [(r.status, r.sip_code) for r in bridge.device_deliveries() if r.message_id == 2] == [
            ("not_found", 404)
        ]
        gevent.sleep(0.3)
        assert [d.body for d in esl.deliveries].count(b"wrong number") == 1
        bridge.stop()
        bridges.remove(bridge)


def test_3000_character_text_arrives_as_ordered_parts(esl, bridges, database_url):
    """A long text with multi-byte characters is split under the byte limit, between characters, in order."""
    esl.register("1001")
    bridge = start(bridges, database_url, {"fs1": esl})
    bridge.provision("1001")
    text = "".join(f"{n:04d} Olá 😀 " for n in range(300))[:3000]
    bridge.text_from_outside("1001", text, "m-1")
    wait_until(lambda: bridge.messages()[0].status == MessageStatus.SENT)
    parts = [d.body for d in esl.deliveries]
    assert len(parts) == 4
    assert all(len(part) <= 1300 for part in parts)
    assert b"".join(parts).decode() == text
    assert [row.part for row in bridge.device_deliveries()] == [1, 2, 3, 4]


def test_text_waiting_too_long_falls_back_to_email(esl, bridges, database_url):
    """An extension that stays offline past ``waiting_email_after``: the text becomes an email job, marked."""
    bridge = start(bridges, database_url, {"fs1": esl}, waiting_email_after=0.5)
    bridge.provision("1001", email="office@example.com")
    bridge.text_from_outside("1001", "nobody home", "m-1")
    wait_until(lambda: [job.status for job in bridge.jobs() if job.kind == JobKind.SIP] == [MessageStatus.UNDELIVERED])
    [sip] = [job for job in bridge.jobs() if job.kind == JobKind.SIP]
    assert sip.state == JobState.DONE
    # One email per address: the copy queued on arrival stands for the fallback too (never a second email).
    assert [job.target for job in bridge.jobs() if job.kind == JobKind.EMAIL] == ["office@example.com"]
    with bridge.session() as session:
        kinds = list(session.scalars(select(MessageEvent.kind).order_by(MessageEvent.id)))
    assert "email_fallback" in kinds
    assert esl.deliveries == []


def test_mms_reaches_a_phone_as_text_plus_a_signed_picture_link(esl, bridges, database_url, tmp_path):
    """A text with a stored picture: the phone gets the text and a signed, expiring link we serve."""
    library = MediaLibrary(LocalMediaStore(tmp_path / "media"), b"k" * 32, ttl_seconds=3600)
    bridge = start(bridges, database_url, {"fs1": esl}, media=library)
    bridge.provision("1001")
    bridge.text_from_outside("1001", "look at this", "m-1")
    wait_until(lambda: [job.state for job in bridge.jobs()] == [JobState.WAITING])
    stored = library.store(PNG, "image/png")
    with bridge.session() as session, session.begin():
        session.add(Media(message_id=bridge.messages()[0].id, content_type="image/png", storage_key=stored.storage_key))

    esl.register("1001")
    wait_until(lambda: len(esl.deliveries) == 1)
    text, link = esl.deliveries[0].body.decode().split("\n")
    assert text == "look at this"
    path, _, query = link.removeprefix("https://sms.example.com/media/").partition("?")
    fields = dict(item.split("=") for item in query.split("&"))
    assert library.verify(int(path), fields["expires"], fields["signature"])


def test_registrations_follow_unregister_both_variants_and_expire(esl, bridges, database_url):
    """Three devices; one unregisters (Expires 0), one drops its TCP connection (the variant naming only
    the Call-ID), the last one expires (``user``/``host`` headers): the table follows each event."""
    bridge = start(bridges, database_url, {"fs1": esl})
    desk = esl.register("1001", network_ip=DESK)
    soft = esl.register("1001", network_ip=SOFT)
    mobile = esl.register("1001", network_ip=MOBILE)
    wait_until(lambda: len(bridge.devices("1001")) == 3)

    esl.unregister("1001", contact=desk)
    wait_until(lambda: [d.contact for d in bridge.devices("1001")] == [soft, mobile])
    esl.unregister("1001", contact=soft, reason="socket-disconnection")
    wait_until(lambda: [d.contact for d in bridge.devices("1001")] == [mobile])
    esl.expire("1001", contact=mobile)
    wait_until(lambda: bridge.devices("1001") == [])


def test_stale_device_that_never_answers_does_not_fail_a_delivered_text(bridges, database_url):
    """Without ``multiple-registrations`` a new device silently replaces the old one (no event): the old
    contact never answers and runs out of attempts, the live device got the text once: the text is sent."""
    with EslSimulator(multiple_registrations=False, no_answer_delay=0.1) as esl:
        old = esl.register("1001", network_ip=DESK)
        bridge = start(bridges, database_url, {"fs1": esl}, result_timeout=2.0)
        bridge.provision("1001")
        wait_until(lambda: [d.contact for d in bridge.devices("1001")] == [old])
        new = esl.register("1001", network_ip=SOFT)
        wait_until(lambda: len(bridge.devices("1001")) == 2)
        bridge.text_from_outside("1001", "hello", "m-1")
        wait_until(lambda: bridge.jobs()[0].state == JobState.DEAD, timeout=20)
        assert bridge.messages()[0].status == MessageStatus.SENT
        assert [d.contact for d in esl.deliveries].count(new) == 1
        outcomes = {row.contact: (row.status, row.attempts) for row in bridge.device_deliveries()}
        assert outcomes == {new: ("sent", 1), old: ("timeout", 5)}
        bridge.stop()
        bridges.remove(bridge)
