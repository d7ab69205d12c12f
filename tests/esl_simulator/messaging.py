"""SIP MESSAGE handling as FreeSWITCH 1.10.12 does it: the ``chat`` API (mod_dptools), the core chat router
(``do_chat_send``), mod_sms's ``SMS::SEND_MESSAGE`` handler and delivery reports, mod_sofia's
``sofia_presence_chat_send`` towards the phones, and a phone's MESSAGE arriving (``05*`` recordings)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tests.esl_simulator.dispatch import ChatWorkers
from tests.esl_simulator.events import Event, Origin, Switch, to_bytes
from tests.esl_simulator.registry import Registration, Registry, random_token
from tests.esl_simulator.tokenizer import separate_string

_CHAT_SEND_ARGS = Origin("switch_loadable_module.c", "switch_core_chat_send_args", 1039)
_PHONE_MESSAGE = Origin("sofia_presence.c", "sofia_presence_handle_sip_i_message", 4889)
_CHAT_ERROR = Origin("sofia_presence.c", "sofia_presence_chat_send", 276)
_DELIVERY_REPORT = Origin("mod_sms.c", "send_report", 48)

#: What a phone that was not told otherwise answers to a MESSAGE.
DEFAULT_PHONE_RESPONSE = 202
_FALSE_WORDS = frozenset({"no", "off", "false", "f", "disabled", "inactive", "disallow", "0"})


@dataclass(frozen=True)
class SipDelivery:
    """One SIP MESSAGE a phone received from FreeSWITCH."""

    user: str
    domain: str
    #: The registered contact URI it was sent to.
    contact: str
    #: The From header FreeSWITCH built (without the tag).
    from_header: str
    content_type: str
    body: bytes
    #: What the phone answered (``None``: it never answered).
    code: int | None
    #: Extra SIP headers from ``sip_h_*`` event headers, as (name, value).
    extra_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Chatplan:
    """What the mod_sms chatplan does with a phone's MESSAGE: ``set`` these variables, run ``fire`` this many
    times, then ``final`` (``final_delivery=true``: FreeSWITCH does not deliver the text itself)."""

    variables: Mapping[str, str]
    fire_copies: int
    final: bool


class Messaging:
    """Texts between ESL clients, FreeSWITCH and the phones."""

    def __init__(
        self,
        *,
        switch: Switch,
        fire: Callable[[Event], None],
        registry: Registry,
        profile: str,
        is_local_domain: Callable[[str], bool],
        sip_ip: str,
        context: str,
        answer_delay: float,
        no_answer_delay: float,
        stopping: threading.Event,
    ) -> None:
        self.deliveries: list[SipDelivery] = []
        self._switch = switch
        self._fire = fire
        self._registry = registry
        self._profile = profile
        self._is_local_domain = is_local_domain
        self._sip_ip = sip_ip
        self._context = context
        self._answer_delay = answer_delay
        self._no_answer_delay = no_answer_delay
        self._stopping = stopping
        self._responses: dict[tuple[str, str], int | None] = {}
        self._workers = ChatWorkers(self.do_chat_send)

    def start(self) -> None:
        """Start the chat worker threads."""
        self._workers.start()

    def stop(self) -> None:
        """Stop the chat worker threads."""
        self._workers.stop()

    # --- phones ---------------------------------------------------------------------------------------------

    def set_phone_response(self, user: str, domain: str, code: int | None) -> None:
        """What ``user``'s phones answer from now on (``None``: never)."""
        self._responses[(user, domain)] = code

    def _response(self, user: str, domain: str) -> int | None:
        return self._responses.get((user, domain), DEFAULT_PHONE_RESPONSE)

    # --- the chat API ---------------------------------------------------------------------------------------

    def chat_api(self, arg: str | None) -> str:
        """``chat <proto>|<from>|<to>|<body>|[<type>]``: blocking; ``Sent``, ``Error! Message Not Sent`` or
        ``Invalid``."""
        fields = separate_string(arg, "|", 5) if arg else []
        if len(fields) < 4:
            return "Invalid"
        content_type = fields[4] if len(fields) > 4 and fields[4] else None
        message = self._switch.create("MESSAGE", _CHAT_SEND_ARGS)
        message.add("proto", "global")
        message.add("from", fields[1])
        message.add("to", fields[2])
        message.add("type", content_type)
        message.add("skip_global_process", "true")
        message.add("blocking", "true")
        message.set_body(to_bytes(fields[3]))
        message.add("dest_proto", fields[0])
        return "Sent" if self.do_chat_send(message) else "Error! Message Not Sent"

    # --- the core router ------------------------------------------------------------------------------------

    def do_chat_send(self, message: Event, chatplan: Chatplan | None = None) -> bool:
        """``do_chat_send``: chatplan (unless skipped), delivery by ``dest_proto``, then a copy of the message
        fired with ``Delivery-Failure`` (blocking) or ``Nonblocking-Delivery``."""
        dest_proto = message.get("dest_proto")
        if dest_proto is None:
            return False
        proto = message.get("proto")
        if proto is None:
            proto = "global"
            message.add("proto", proto)
        status = False
        skip_delivery = False
        if (
            chatplan is not None
            and not message.is_true("replying")
            and "global" not in proto.lower()
            and not message.is_true("skip_global_process")
        ):
            status = self._run_chatplan(message, chatplan)
            skip_delivery = status and message.is_true("final_delivery")
        if not skip_delivery and "global" not in dest_proto.lower():
            status = dest_proto.lower() == "sip" and self.sofia_chat_send(message)
        copy = message.dup()
        if message.is_true("blocking"):
            copy.add("Delivery-Failure", "false" if status else "true")
        else:
            copy.add("Nonblocking-Delivery", "true")
        self._fire(copy)
        return status

    def _run_chatplan(self, message: Event, chatplan: Chatplan) -> bool:
        message.add("max_forwards", "70")
        for name, value in chatplan.variables.items():
            message.add(name, value)
        for _ in range(chatplan.fire_copies):
            self._fire(message.dup())
        if chatplan.final:
            message.add("final_delivery", "true")
        return bool(chatplan.variables) or chatplan.fire_copies > 0 or chatplan.final

    # --- mod_sms --------------------------------------------------------------------------------------------

    def on_send_message(self, event: Event) -> None:
        """mod_sms's handler for ``CUSTOM SMS::SEND_MESSAGE``: queue the text for delivery, or, for the copy
        fired after delivery, fire ``SMS::DELIVERY_REPORT``."""
        event.add("skip_global_process", "true")
        failure = event.get("Delivery-Failure")
        if failure is not None and event.is_true("Delivery-Failure"):
            self._report(event, "Failure")
        elif failure is not None and failure.lower() in _FALSE_WORDS:
            self._report(event, "Success")
        elif event.is_true("Nonblocking-Delivery"):
            self._report(event, "Accepted")
        else:
            message = event.dup()
            message.add("dest_proto", event.get("dest_proto"))
            self._workers.queue(message)

    def _report(self, event: Event, status: str) -> None:
        report = self._switch.create("CUSTOM", _DELIVERY_REPORT, "SMS::DELIVERY_REPORT")
        report.add("Status", status)
        for name, value in event.headers:
            if name not in ("Event-Subclass", "Event-Name"):
                report.add(name, value)
        self._fire(report)

    # --- mod_sofia towards the phones -----------------------------------------------------------------------

    def sofia_chat_send(self, message: Event) -> bool:
        """``sofia_presence_chat_send``: resolve ``to`` to registered contacts and send one MESSAGE to each;
        when blocking, wait for each phone's answer (the result is the last contact's)."""
        to = message.get("to")
        sender = message.get("from")
        if not to or not sender:
            return False
        profile_name, _, user = to.partition("/") if "/" in to else (None, "", to)
        profile_name = profile_name or message.get("sip_profile")
        to_uri = user if user.lower().startswith("sip:") else None
        host = None
        if "@" in user:
            host = user.split("@", 1)[1]
            if to_uri is None:
                user = user.split("@", 1)[0]
            profile_name = profile_name or host
        if profile_name is None or not self._is_profile(profile_name):
            return False
        host = host or profile_name
        from_header = self._from_header(message, sender, host)
        targets: list[Registration | str]
        if to_uri is not None:
            targets = [to_uri]
        elif rows := self._registry.contacts(user, host):
            targets = list(rows)
        elif self._is_profile(host):
            targets = []
        else:
            targets = [f"sip:{user}@{host}"]
        if not targets:
            self._no_recipient(message, to, from_header, profile_name)
            return False
        status = False
        for target in targets:
            status = self._send_to_phone(message, target, from_header)
        return status

    def _is_profile(self, name: str) -> bool:
        return name == self._profile or self._is_local_domain(name)

    def _from_header(self, message: Event, sender: str, host: str) -> str | None:
        proto = message.get("proto") or ""
        if proto.lower() == "sip":
            return message.get("from_full")
        from_proto = message.get("from_proto")
        user, _, from_host = sender.partition("@")
        from_host = from_host or host
        if "global" in proto.lower():
            if not from_proto or from_proto.lower() == "sip":
                return f'"{user}" <sip:{user}@{from_host}>'
            return f'"{user}" <sip:{from_proto}+{user}@{from_host}>'
        return f'"{user}" <sip:{from_proto or proto}+{user}@{from_host}>'

    def _no_recipient(self, message: Event, to: str, from_header: str | None, profile_name: str) -> None:
        error = self._switch.create("CUSTOM", _CHAT_ERROR, "sofia::error")
        error.add("Error-Type", "chat")
        error.add("Error-Reason", "no recipient")
        error.add("Chat-Send-To", to)
        error.add("Chat-Send-From", from_header)
        error.add("Chat-Send-Profile", profile_name)
        error.set_body(message.body or b"")
        self._fire(error)

    def _send_to_phone(self, message: Event, target: Registration | str, from_header: str | None) -> bool:
        if isinstance(target, Registration):
            row: Registration | None = target
            contact = target.contact
        else:
            row = self._registry.find_by_contact(target)
            contact = target
        user, _, domain = contact.removeprefix("sip:").partition("@")
        code = self._response(row.user, row.domain) if row is not None else None
        self.deliveries.append(
            SipDelivery(
                user=row.user if row is not None else user,
                domain=row.domain if row is not None else domain.split(":", 1)[0],
                contact=contact,
                # Without a From of its own, sofia-sip makes one from the profile's address.
                from_header=from_header if from_header is not None else f"<sip:{self._sip_ip}>",
                content_type=message.get("type") or "text/html",
                body=message.body or b"",
                code=code,
                extra_headers=tuple(
                    (name[len("sip_h_") :], value)
                    for name, value in message.headers
                    if name.lower().startswith("sip_h_")
                ),
            )
        )
        if not message.is_true("blocking"):
            return True
        self._stopping.wait(self._answer_delay if code is not None else self._no_answer_delay)
        message.add("Delivery-Result-Code", str(code or 0))
        return code is not None and 200 <= code < 300

    # --- a phone sends a text -------------------------------------------------------------------------------

    def phone_message(
        self,
        *,
        from_user: str,
        from_domain: str,
        to_user: str,
        to_host: str,
        body: bytes,
        content_type: str,
        extra_headers: Mapping[str, str],
        chatplan: Chatplan,
        recv_message_event: bool,
        network_ip: str,
    ) -> None:
        """A phone's MESSAGE after digest authentication (FreeSWITCH has already answered it 202)."""
        media_type = content_type.split(";", 1)[0].strip() or "text/plain"
        if "composing" in media_type.partition("/")[2]:
            return
        sender = next(iter(self._registry.contacts(from_user, from_domain)), None)
        ip = sender.network_ip if sender is not None else network_ip
        port = sender.network_port if sender is not None else "5060"
        self._registry.pre_register_for_message(sender, from_user, to_user, from_domain, ip, port)
        message = self._switch.create("MESSAGE", _PHONE_MESSAGE)
        for name, value in (
            ("login", f"sip:mod_sofia@{self._sip_ip}:5060"),
            ("proto", "sip"),
            ("to_proto", "sip"),
            ("from", f"{from_user}@{from_domain}"),
            ("from_user", from_user),
            ("from_host", from_domain),
            ("to_user", to_user),
            ("to_host", to_host),
            ("from_sip_ip", ip),
            ("from_sip_port", port),
            ("to", f"{to_user}@{to_host}"),
            ("subject", "SIMPLE MESSAGE"),
            ("context", self._context),
            ("type", media_type),
            ("from_full", f"<sip:{from_user}@{from_domain}>;tag={random_token(8)}"),
            ("sip_profile", self._profile),
        ):
            message.add(name, value)
        for name, value in extra_headers.items():
            # Only X- headers are passed on as sip_h_* (P-Asserted-Identity and the like are not, 05d).
            if name.lower().startswith("x-"):
                message.add(f"sip_h_{name}", value)
        message.set_body(body)
        if recv_message_event:
            received = message.dup()
            received.name = "RECV_MESSAGE"
            received.delete("Event-Name")
            received.add("Event-Name", "RECV_MESSAGE")
            self._fire(received)
        routed = message.dup()
        routed.add("dest_proto", "sip")
        self.do_chat_send(routed, chatplan)


def body_bytes(body: bytes | str) -> bytes:
    """A text body given as ``str`` (UTF-8) or raw bytes."""
    return body if isinstance(body, bytes) else to_bytes(body)
