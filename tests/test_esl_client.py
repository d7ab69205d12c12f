"""EslClient over real TCP against the FreeSWITCH event socket simulator (``tests.esl_simulator``).

The gevent hub runs in the test's thread and the simulator in its own threads, so tests wait with
``gevent.sleep`` (never ``time.sleep``, which would freeze the client).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator

import gevent
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fspbx_sms.esl import SUBSCRIPTION, EslClient, EslUnavailable, PhoneText, Registration, VoicemailLeft
from fspbx_sms.esl.connection import AuthenticationFailed, ConnectionLost, EslConnection, NotConnected
from tests.esl_simulator import EslSimulator

SENDER = "+15551234567"


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the gevent hub run until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        gevent.sleep(0.01)


def outcome(function: Callable, *args, **kwargs) -> object:
    """Run ``function`` (in a spawned greenlet) and return its result or the exception it raised."""
    try:
        return function(*args, **kwargs)
    except Exception as err:
        return err


class Recorder:
    """Collects what the client reports through its callbacks."""

    def __init__(self) -> None:
        self.texts: list[PhoneText] = []
        self.registrations: list[Registration] = []
        self.voicemails: list[VoicemailLeft] = []
        self.connected = 0

    def callbacks(self) -> dict[str, Callable]:
        """The client's callback arguments, all pointing here."""
        return {
            "on_phone_text": self.texts.append,
            "on_registration": self.registrations.append,
            "on_voicemail": self.voicemails.append,
            "on_connected": self._on_connected,
        }

    def _on_connected(self) -> None:
        self.connected += 1


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_client(recorder) -> Iterator[Callable[..., EslClient]]:
    """Builds started clients with test-sized timeouts; stops them all after the test."""
    clients: list[EslClient] = []

    def make(simulator: EslSimulator, **options) -> EslClient:
        settings = {
            "connect_timeout": 2.0,
            "command_timeout": 2.0,
            "heartbeat_timeout": 30.0,
            "backoff_initial": 0.02,
            "backoff_max": 0.2,
            **recorder.callbacks(),
            **options,
        }
        password = settings.pop("password", "ClueCon")
        client = EslClient(simulator.host, simulator.port, password, **settings)
        clients.append(client)
        client.start()
        return client

    yield make
    for client in clients:
        client.stop()


@pytest.fixture
def client(esl, make_client) -> EslClient:
    """A client connected to the ``esl`` simulator."""
    connected = make_client(esl)
    assert connected.wait_connected(5)
    return connected


def send(client: EslClient, body: str, *, to_user: str = "1001", **options):
    return client.send_chat(from_number=SENDER, to_user=to_user, to_domain="pbx.test", body=body, **options)


# --- connecting ---------------------------------------------------------------------------------------------


def test_connects_authenticates_and_subscribes_in_the_right_order(esl, client, recorder):
    # every word after CUSTOM is a subclass, so the plain event names must come before it
    expected = (
        "event plain MESSAGE BACKGROUND_JOB HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire"
        " vm::maintenance SMS::DELIVERY_REPORT sofia::error"
    )
    assert esl.subscriptions() == [expected]
    assert esl.commands[:2] == ["auth ClueCon", expected]
    status = client.status()
    assert status["state"] == "connected"
    assert status["name"] == "fs1"
    assert (status["host"], status["port"]) == (esl.host, esl.port)
    assert status["connected_since"] is not None
    assert status["reconnects"] == 0
    wait_until(lambda: recorder.connected == 1)


def test_wrong_password_keeps_retrying_and_never_logs_it(esl, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(esl, password="not-the-secret")
    wait_until(lambda: esl.commands.count("auth not-the-secret") >= 3)
    assert not client.wait_connected(0.05)
    assert client.state in ("connecting", "disconnected")
    assert "password" in client.status()["last_error"]
    assert "not-the-secret" not in caplog.text
    assert "not-the-secret" not in str(client.status())


def test_silent_server_is_given_up_after_the_connect_timeout():
    """A listener that accepts but never says auth/request (a hung FreeSWITCH)."""
    with socket.create_server(("127.0.0.1", 0)) as hung:
        host, port = hung.getsockname()
        client = EslClient(host, port, "ClueCon", connect_timeout=0.2, backoff_initial=0.02, backoff_max=0.05)
        client.start()
        try:
            wait_until(lambda: "auth/request" in client.last_error or "no answer" in client.last_error)
            assert client.state in ("connecting", "disconnected")
        finally:
            client.stop()
    assert client.state == "stopped"


def test_nothing_to_connect_to_keeps_retrying():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    client = EslClient("127.0.0.1", port, "ClueCon", backoff_initial=0.01, backoff_max=0.02)
    client.start()
    try:
        wait_until(lambda: "refused" in client.last_error.lower())
        with pytest.raises(EslUnavailable):
            send(client, "hello")
    finally:
        client.stop()


def test_commands_fail_at_once_before_connecting(esl):
    client = EslClient(esl.host, esl.port, "ClueCon")
    with pytest.raises(EslUnavailable):
        send(client, "hello")
    assert client.state == "disconnected"


# --- sending texts ------------------------------------------------------------------------------------------

NASTY_BODIES = [
    "Hello",
    "  'quoted' it's a |pipe| and a \\ backslash\\\\ and \\n literal  ",
    "emoji 😀 accents éàü ✓ CJK 你好",
    "line one\nline two\r\nline three\ttabbed",
    "   ",
    " ^^;semi;colons",
    "^^|pipes|first",
    "ends with a backslash \\",
    "''",
    "'single",
    '"double" quotes and $dollar ${var} %41 %%',
]


@pytest.mark.parametrize("body", NASTY_BODIES)
def test_chat_body_reaches_the_phone_byte_for_byte(esl, client, body):
    contact = esl.register("1001", "pbx.test")
    result = send(client, body)
    assert result.sent
    assert result.reply == "Sent"
    (delivery,) = esl.deliveries
    assert delivery.body == body.encode("utf-8")
    assert delivery.content_type == "text/plain"
    assert delivery.contact == contact
    assert f"{SENDER}@pbx.test" in delivery.from_header


def test_chat_is_sent_with_bgapi_and_our_job_uuid(esl, client):
    esl.register("1001", "pbx.test")
    result = send(client, "Hi")
    chat_commands = [command for command in esl.commands if "chat" in command]
    assert chat_commands == [f"bgapi chat sip|{SENDER}@pbx.test|1001@pbx.test|Hi|text/plain"]
    assert len(result.job_uuid) == 36


def test_a_nul_character_cannot_be_sent(esl, client):
    esl.register("1001", "pbx.test")
    with pytest.raises(ValueError):
        send(client, "before\0after")
    assert not any("chat" in command for command in esl.commands)


def test_a_callback_may_send_a_text(esl, make_client):
    """Results are settled by the reading greenlet, so a callback waiting for one does not block itself."""
    esl.register("1001", "pbx.test")
    results = []
    client = make_client(
        esl,
        on_phone_text=lambda text: results.append(send(client, f"re: {text.body}", to_user=text.from_user)),
    )
    assert client.wait_connected(5)
    esl.phone_message("1001", "+15557654321", "ping", domain="pbx.test")
    wait_until(lambda: results)
    assert results[0].sent
    assert [delivery.body for delivery in esl.deliveries] == [b"re: ping"]


def test_content_type_with_parameters_is_passed_on(esl, client):
    esl.register("1001", "pbx.test")
    assert send(client, "Grüße", content_type="text/plain;charset=UTF-8").sent
    assert esl.deliveries[0].content_type == "text/plain;charset=UTF-8"


@pytest.mark.parametrize(
    ("response", "sent", "reply"),
    [
        (200, True, "Sent"),
        (202, True, "Sent"),
        (404, False, "Error! Message Not Sent"),
        (480, False, "Error! Message Not Sent"),
        (None, False, "Error! Message Not Sent"),
    ],
)
def test_chat_result_follows_the_phone_answer(esl, client, response, sent, reply):
    esl.register("1001", "pbx.test")
    esl.set_phone_response("1001", response, domain="pbx.test")
    result = send(client, "Hello")
    assert (result.sent, result.reply) == (sent, reply)


def test_chat_to_an_unregistered_user_is_not_sent(esl, client):
    result = send(client, "Hello", to_user="1002")
    assert (result.sent, result.reply) == (False, "Error! Message Not Sent")
    assert esl.deliveries == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=60))
def test_any_text_arrives_unchanged(esl, client, body):
    esl.register("1001", "pbx.test")
    before = len(esl.deliveries)
    assert send(client, body).sent
    assert esl.deliveries[before].body == body.encode("utf-8")


# --- events -------------------------------------------------------------------------------------------------


def test_phone_text_is_reported(esl, client, recorder):
    esl.phone_message("1001", "+15557654321", "Hi from 1001 ✓", domain="pbx.test")
    wait_until(lambda: recorder.texts)
    (text,) = recorder.texts
    assert (text.from_user, text.from_host) == ("1001", "pbx.test")
    assert (text.to_user, text.to_host) == ("+15557654321", "pbx.test")
    assert text.body == "Hi from 1001 ✓"
    assert text.content_type == "text/plain"
    assert text.core_uuid == esl.core_uuid
    assert text.dedupe_key == f"{esl.core_uuid}:{text.event_sequence}"
    assert text.from_sip_ip
    assert text.sip_profile == "internal"
    assert text.headers["proto"] == "sip"


def test_chatplan_fire_copies_share_one_dedupe_key(esl, client, recorder):
    esl.phone_message("1001", "+15557654321", "copies", domain="pbx.test", fire_copies=2)
    wait_until(lambda: len(recorder.texts) == 3)
    assert len({text.dedupe_key for text in recorder.texts}) == 1


def test_our_own_chat_echo_is_not_a_phone_text(esl, client, recorder):
    esl.register("1001", "pbx.test")
    assert send(client, "to the phone").sent
    esl.phone_message("1002", "+15557654321", "marker", domain="pbx.test")
    wait_until(lambda: recorder.texts)
    assert [text.body for text in recorder.texts] == ["marker"]


def test_non_utf8_body_does_not_stop_later_events(esl, client, recorder):
    esl.phone_message("1001", "+15557654321", "Grüße café".encode("latin-1"), domain="pbx.test")
    esl.phone_message("1001", "+15557654321", b"\x81\x8d\xfe\xff", domain="pbx.test")
    esl.phone_message("1001", "+15557654321", "still here", domain="pbx.test")
    wait_until(lambda: len(recorder.texts) == 3)
    assert [text.body for text in recorder.texts] == ["Grüße café", "\x81\x8dþÿ", "still here"]


def test_body_lines_that_look_like_headers_change_nothing(esl, client, recorder):
    body = "Event-Name: HEARTBEAT\nto_user: 911\n\nContent-Length: 2\n\nxx"
    esl.phone_message("1001", "+15557654321", body, domain="pbx.test")
    wait_until(lambda: recorder.texts)
    assert recorder.texts[0].to_user == "+15557654321"
    assert recorder.texts[0].body == body


def test_registration_events_are_normalised(esl, client, recorder):
    contact = esl.register("1001", "pbx.test", expires=600, user_agent="Phone/1", network_ip="192.0.2.7")
    esl.unregister("1001", "pbx.test")
    esl.register("1003", "pbx.test")
    esl.expire("1003", "pbx.test")
    wait_until(lambda: len(recorder.registrations) == 4)
    register, unregister, _, expire = recorder.registrations
    assert (register.kind, register.user, register.domain) == ("register", "1001", "pbx.test")
    assert register.expires == 600
    assert register.contact == f'"" <{contact}>'  # the Contact header as the phone sent it (recording 02a)
    assert (register.user_agent, register.network_ip, register.profile) == (
        "Phone/1",
        "192.0.2.7",
        "internal",
    )
    assert register.call_id
    assert (unregister.kind, unregister.user, unregister.domain) == ("unregister", "1001", "pbx.test")
    assert (expire.kind, expire.user, expire.domain, expire.expires) == ("expire", "1003", "pbx.test", None)
    assert expire.headers["expires"].isdigit()


def test_voicemail_is_reported(esl, client, recorder):
    esl.voicemail_left(
        "1001", "pbx.test", caller_id_name="Alice", caller_id_number="+15557654321", length_seconds=12
    )
    wait_until(lambda: recorder.voicemails)
    (voicemail,) = recorder.voicemails
    assert (voicemail.user, voicemail.domain) == ("1001", "pbx.test")
    assert (voicemail.caller_id_name, voicemail.caller_id_number) == ("Alice", "+15557654321")
    assert voicemail.message_len == 12
    assert voicemail.timestamp > 0
    assert voicemail.uuid
    assert voicemail.file_path


def test_a_failing_callback_is_logged_and_the_next_event_still_arrives(esl, make_client, caplog):
    received: list[str] = []

    def fragile(text: PhoneText) -> None:
        if text.body == "first secret body":
            raise RuntimeError("callback broke")
        received.append(text.body)

    client = make_client(esl, on_phone_text=fragile)
    assert client.wait_connected(5)
    esl.phone_message("1001", "+15557654321", "first secret body", domain="pbx.test")
    esl.phone_message("1001", "+15557654321", "second", domain="pbx.test")
    wait_until(lambda: received == ["second"])
    assert "callback broke" in caplog.text
    assert "first secret body" not in caplog.text


# --- losing the connection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("drop_connections", ""),
        ("shutdown", "The system is being shut down."),
        ("kill_slow_consumers", "killed listener because of lost events"),
    ],
)
def test_reconnects_resubscribes_and_calls_on_connected_again(esl, client, recorder, fault, reason):
    wait_until(lambda: recorder.connected == 1)
    getattr(esl, fault)()
    wait_until(lambda: recorder.connected == 2)
    assert client.status()["reconnects"] == 1
    assert reason in client.status()["last_error"]
    wait_until(lambda: esl.connection_count() == 1)
    assert esl.subscriptions() == [SUBSCRIPTION]
    assert esl.commands.count(SUBSCRIPTION) == 2
    esl.phone_message("1001", "+15557654321", "after reconnect", domain="pbx.test")
    wait_until(lambda: recorder.texts)
    assert recorder.texts[0].body == "after reconnect"


def test_heartbeat_silence_forces_a_reconnect(esl, make_client, recorder):
    client = make_client(esl, heartbeat_timeout=0.3)
    wait_until(lambda: recorder.connected >= 2)
    assert "no event" in client.status()["last_error"]
    assert client.status()["reconnects"] >= 1


def test_heartbeats_keep_the_connection(esl, make_client, recorder):
    client = make_client(esl, heartbeat_timeout=0.5)
    assert client.wait_connected(5)
    for _ in range(8):
        esl.heartbeat()
        gevent.sleep(0.1)
    assert client.status()["reconnects"] == 0
    assert recorder.connected == 1


def test_send_dropped_before_it_ran_is_unavailable_and_can_be_retried(esl, client, recorder):
    esl.register("1001", "pbx.test")
    esl.fail_next("bgapi chat", "drop_before")
    with pytest.raises(EslUnavailable):
        send(client, "first try", timeout=0.5)
    assert esl.deliveries == []
    assert client.wait_connected(5)
    assert send(client, "first try").sent
    assert [delivery.body for delivery in esl.deliveries] == [b"first try"]


@pytest.mark.parametrize("mode", ["drop_after_execute", "drop_mid_reply"])
def test_result_of_a_send_cut_off_by_a_drop_arrives_on_the_new_connection(make_client, recorder, mode):
    with EslSimulator(password="ClueCon", answer_delay=0.5).start() as slow_phone_esl:
        client = make_client(slow_phone_esl)
        assert client.wait_connected(5)
        slow_phone_esl.register("1001", "pbx.test")
        slow_phone_esl.fail_next("bgapi chat", mode)
        result = send(client, "exactly once", timeout=5.0)
        assert (result.sent, result.reply) == (True, "Sent")
        assert [delivery.body for delivery in slow_phone_esl.deliveries] == [b"exactly once"]
        assert recorder.connected == 2
        client.stop()


def test_stop_fails_a_pending_send_and_closes_the_connection(esl, client):
    esl.register("1001", "pbx.test")
    esl.set_phone_response("1001", None, domain="pbx.test")
    pending = gevent.spawn(outcome, send, client, "never answered", timeout=30.0)
    wait_until(lambda: any("chat" in command for command in esl.commands))
    client.stop()
    assert isinstance(pending.get(timeout=5), EslUnavailable)
    assert client.state == "stopped"
    wait_until(lambda: esl.connection_count() == 0)


# --- the connection underneath ------------------------------------------------------------------------------


@pytest.fixture
def connection(esl) -> Iterator[EslConnection]:
    """A bare authenticated connection (no supervisor), events ignored."""
    opened = EslConnection(
        esl.host, esl.port, "ClueCon", on_event=lambda _event: None, timeout=2, command_timeout=2
    )
    opened.connect()
    yield opened
    opened.stop()


def test_connection_enables_tcp_keepalive(connection):
    assert connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)


def test_wrong_password_is_an_authentication_error(esl):
    refused = EslConnection(
        esl.host, esl.port, "nope", on_event=lambda _event: None, timeout=2, command_timeout=2
    )
    try:
        with pytest.raises(AuthenticationFailed):
            refused.connect()
    finally:
        refused.stop()


def test_concurrent_commands_each_get_their_own_reply(esl, connection):
    for user in ("1001", "1003", "1005"):
        esl.register(user, "pbx.test")
    users = [f"100{n}" for n in range(1, 7)] * 5
    asking = [gevent.spawn(connection.send, f"api sofia_contact */{user}@pbx.test") for user in users]
    gevent.joinall(asking, raise_error=True)
    for user, greenlet in zip(users, asking, strict=True):
        answer = greenlet.get().body.decode()
        assert answer.startswith("sofia/") if int(user) % 2 else answer == "error/user_not_registered"


def test_waiting_commands_fail_when_the_connection_dies(esl, connection):
    esl.register("1001", "pbx.test")
    esl.set_phone_response("1001", None, domain="pbx.test")
    blocked = gevent.spawn(
        outcome, connection.send, f"api chat sip|{SENDER}@pbx.test|1001@pbx.test|hi|text/plain"
    )
    wait_until(lambda: any(command.startswith("api chat") for command in esl.commands))
    esl.drop_connections()
    assert isinstance(blocked.get(timeout=5), ConnectionLost)
    assert not connection.connected
    with pytest.raises(NotConnected):
        connection.send("api status")


def test_a_command_without_reply_in_time_closes_the_connection(esl):
    esl.register("1001", "pbx.test")
    esl.set_phone_response("1001", None, domain="pbx.test")
    impatient = EslConnection(
        esl.host, esl.port, "ClueCon", on_event=lambda _event: None, timeout=2, command_timeout=0.1
    )
    try:
        impatient.connect()
        with pytest.raises(ConnectionLost, match="no reply"):
            impatient.send(f"api chat sip|{SENDER}@pbx.test|1001@pbx.test|hi|text/plain")
        assert not impatient.connected
        impatient.receiver.join(timeout=5)
        assert impatient.receiver.dead
    finally:
        impatient.stop()


def test_a_command_with_a_blank_line_is_refused(connection):
    with pytest.raises(ValueError):
        connection.send("api status\n\nevent plain ALL")
