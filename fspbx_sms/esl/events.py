"""Typed views of the FreeSWITCH events the gateway acts on, built from parsed :class:`EslEvent` objects."""

from __future__ import annotations

from dataclasses import dataclass, field

from fspbx_sms.esl.frames import EslEvent
from fspbx_sms.esl.registrations import contact_uri

#: CUSTOM subclasses of registration events, and the ``kind`` each becomes.
REGISTRATION_KINDS = {
    "sofia::register": "register",
    "sofia::unregister": "unregister",
    "sofia::expire": "expire",
}


@dataclass(frozen=True)
class ChatResult:
    """FreeSWITCH's answer to one ``bgapi chat``: ``reply`` is ``Sent`` or ``Error! Message Not Sent``."""

    sent: bool
    reply: str
    job_uuid: str
    #: The SIP status the device answered (0: no answer), when FreeSWITCH reported it.
    code: int | None = None


@dataclass(frozen=True)
class PhoneText:
    """One SIP MESSAGE a phone sent (a ``MESSAGE`` event with ``proto: sip``)."""

    core_uuid: str
    event_sequence: int
    from_user: str
    from_host: str
    to_user: str
    to_host: str
    body: str = field(repr=False)
    #: Media type only: FreeSWITCH drops parameters such as ``charset`` or a multipart ``boundary``.
    content_type: str
    from_sip_ip: str
    sip_profile: str
    headers: dict[str, str] = field(repr=False)

    @property
    def dedupe_key(self) -> str:
        """Same for every copy FreeSWITCH fires of one received MESSAGE (``Core-UUID:Event-Sequence``)."""
        return f"{self.core_uuid}:{self.event_sequence}"


@dataclass(frozen=True)
class Registration:
    """A ``sofia::register``, ``sofia::unregister`` or ``sofia::expire`` event, with one set of field names.

    ``expires`` is the seconds granted for ``register`` and ``unregister`` (``0``); for ``expire``,
    whose header holds an absolute time instead, it is ``None`` (the raw value stays in ``headers``).
    """

    kind: str
    user: str
    domain: str
    contact: str
    call_id: str
    expires: int | None
    network_ip: str
    profile: str
    user_agent: str
    headers: dict[str, str] = field(repr=False)
    #: The name of the FreeSWITCH node that fired it.
    node: str = ""

    @property
    def contact_uri(self) -> str:
        """The device's contact URI without display name (empty for a socket-disconnection unregister)."""
        return contact_uri(self.contact) if self.contact else ""


@dataclass(frozen=True)
class VoicemailLeft:
    """A caller left a voicemail (``vm::maintenance`` with ``VM-Action: leave-message``)."""

    user: str
    domain: str
    caller_id_name: str
    caller_id_number: str
    #: Length of the recording in seconds.
    message_len: int
    #: Unix time the message was left.
    timestamp: int
    uuid: str
    file_path: str
    headers: dict[str, str] = field(repr=False)
    #: The name of the FreeSWITCH node that fired it.
    node: str = ""


def _optional_int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def phone_text_from(event: EslEvent) -> PhoneText | None:
    """The phone's text in a MESSAGE event, else ``None`` (copies of our own sends have ``proto: global``)."""
    headers = event.headers
    if event.name != "MESSAGE" or headers.get("proto") != "sip":
        return None
    return PhoneText(
        core_uuid=headers.get("Core-UUID", ""),
        event_sequence=int(headers["Event-Sequence"]),
        from_user=headers.get("from_user", ""),
        from_host=headers.get("from_host", ""),
        to_user=headers.get("to_user", ""),
        to_host=headers.get("to_host", ""),
        body=event.body,
        content_type=headers.get("type") or "text/plain",
        from_sip_ip=headers.get("from_sip_ip", ""),
        sip_profile=headers.get("sip_profile", ""),
        headers=headers,
    )


def registration_from(event: EslEvent, node: str = "") -> Registration | None:
    """The registration change in a ``sofia::register/unregister/expire`` event, or ``None``."""
    kind = REGISTRATION_KINDS.get(event.subclass) if event.name == "CUSTOM" else None
    if kind is None:
        return None
    headers = event.headers
    # sofia::expire names the user and domain `user`/`host`; the others use `from-user`/`from-host`.
    user_header, domain_header = ("user", "host") if kind == "expire" else ("from-user", "from-host")
    return Registration(
        kind=kind,
        user=headers.get(user_header, ""),
        domain=headers.get(domain_header, ""),
        contact=headers.get("contact", ""),
        call_id=headers.get("call-id", ""),
        expires=None if kind == "expire" else _optional_int(headers.get("expires")),
        network_ip=headers.get("network-ip", ""),
        profile=headers.get("profile-name", ""),
        user_agent=headers.get("user-agent", ""),
        headers=headers,
        node=node,
    )


def voicemail_from(event: EslEvent, node: str = "") -> VoicemailLeft | None:
    """The new voicemail in a ``vm::maintenance`` ``leave-message`` event, or ``None``."""
    headers = event.headers
    if event.subclass != "vm::maintenance" or headers.get("VM-Action") != "leave-message":
        return None
    return VoicemailLeft(
        user=headers.get("VM-User", ""),
        domain=headers.get("VM-Domain", ""),
        caller_id_name=headers.get("VM-Caller-ID-Name", ""),
        caller_id_number=headers.get("VM-Caller-ID-Number", ""),
        message_len=_optional_int(headers.get("VM-Message-Len")) or 0,
        timestamp=_optional_int(headers.get("VM-Timestamp")) or 0,
        uuid=headers.get("VM-UUID", ""),
        file_path=headers.get("VM-File-Path", ""),
        headers=headers,
        node=node,
    )
