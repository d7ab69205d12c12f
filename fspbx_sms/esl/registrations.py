"""Registered devices as FreeSWITCH lists them: ``sofia status`` (the profiles) and
``sofia xmlstatus profile <name> reg`` (one ``<registration>`` per contact, unlike ``show registrations``,
which keeps one row per user)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree

_ANGLE_URI = re.compile(r"<([^>]*)>")
# The `sofia status` table: name, type, data, state, separated by tabs (SPEC §8, transcript 03).
_PROFILE_ROW = re.compile(r"^\s*(\S+)\t\s*profile\t")


@dataclass(frozen=True)
class DeviceContact:
    """One registered device of ``user@domain`` on a sofia profile."""

    user: str
    domain: str
    #: The contact URI (``sip:1001@192.0.2.10:5061``), without display name or angle brackets.
    contact: str
    profile: str
    call_id: str = ""
    user_agent: str = ""
    network_ip: str = ""


def contact_uri(header: str) -> str:
    """The URI of a Contact header value (``"" <sip:1001@host:5061>`` → ``sip:1001@host:5061``)."""
    match = _ANGLE_URI.search(header)
    return (match.group(1) if match else header).strip()


def profile_names(sofia_status: str) -> list[str]:
    """The names of the running sofia profiles in ``sofia status`` output (aliases left out)."""
    return [match.group(1) for line in sofia_status.splitlines() if (match := _PROFILE_ROW.match(line))]


def parse_xmlstatus(profile: str, xml: str) -> list[DeviceContact]:
    """The devices in ``sofia xmlstatus profile <profile> reg`` output.

    FreeSWITCH declares ``ISO-8859-1`` but the text was already decoded, so the declaration is dropped.
    """
    text = xml.strip()
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1]
    root = ElementTree.fromstring(text)
    devices = []
    for row in root.iter("registration"):
        user, _, domain = (row.findtext("user") or "").partition("@")
        devices.append(
            DeviceContact(
                user=user,
                domain=domain,
                contact=contact_uri(row.findtext("contact") or ""),
                profile=profile,
                call_id=row.findtext("call-id") or "",
                user_agent=row.findtext("agent") or "",
                network_ip=row.findtext("network-ip") or "",
            )
        )
    return devices
