"""The FreeSWITCH API commands the simulator answers (``api``/``bgapi``), with their recorded output."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from tests.esl_simulator.registry import Registration

VERSION = "1.10.12-release~64bit"
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class ApiContext:
    """What the API commands read from the simulated switch."""

    started_at: float
    profile: str
    hostname: str
    variables: dict[str, str]
    contacts: Callable[[str, str], list[Registration]]
    core_rows: Callable[[], list[Registration]]
    sofia_rows: Callable[[], list[Registration]]
    domains: Callable[[], list[str]]
    is_local_domain: Callable[[str], bool]
    chat: Callable[[str | None], str]
    shutdown: Callable[[], None]


class Api:
    """``switch_api_execute``: runs a command and returns its output, or ``None`` if there is no such
    command (command names are case-insensitive)."""

    def __init__(self, context: ApiContext) -> None:
        self._context = context
        self._commands: dict[str, Callable[[str | None], str]] = {
            "chat": context.chat,
            "eval": self._eval,
            "fsctl": self._fsctl,
            "global_getvar": self._global_getvar,
            "show": self._show,
            "sofia": self._sofia,
            "sofia_contact": self._sofia_contact,
            "status": self._status,
            "version": self._version,
        }

    def execute(self, command: str, arg: str | None) -> str | None:
        """The output of ``command arg``, or ``None`` for an unknown command."""
        handler = self._commands.get(command.lower())
        return None if handler is None else handler(arg)

    def _version(self, _arg: str | None) -> str:
        return f"FreeSWITCH Version {VERSION} ( 64bit)\n"

    def _status(self, _arg: str | None) -> str:
        elapsed_us = int((time.time() - self._context.started_at) * 1_000_000)
        seconds, micro = divmod(elapsed_us, 1_000_000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        years, days = divmod(days, 365)
        return (
            f"UP {years} years, {days} days, {hours} hours, {minutes} minutes, {seconds} seconds, "
            f"{micro // 1000} milliseconds, {micro % 1000} microseconds\n"
            "FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
            "0 session(s) since startup\n"
            "0 session(s) - peak 0, last 5min 0 \n"
            "0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
            "100 session(s) max\n"
            "min idle cpu 0.00/99.00\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    def _global_getvar(self, arg: str | None) -> str:
        if not arg:
            return "".join(f"{name}={value}\n" for name, value in self._context.variables.items())
        return self._context.variables.get(arg, "")

    def _eval(self, arg: str | None) -> str:
        return _VARIABLE.sub(lambda match: self._context.variables.get(match.group(1), ""), arg or "")

    def _fsctl(self, arg: str | None) -> str:
        if (arg or "").split(" ", 1)[0].lower() == "shutdown":
            self._context.shutdown()
            return "+OK\n"
        return "-ERR Usage: fsctl shutdown\n"

    def _sofia_contact(self, arg: str | None) -> str:
        """``sofia_contact [profile/|*/]user@domain``: comma-separated dial strings of every contact."""
        profile, _, address = (arg or "").rpartition("/")
        user, _, domain = address.partition("@")
        known_profile = profile in ("", "*", self._context.profile) or self._context.is_local_domain(profile)
        rows = self._context.contacts(user, domain) if user and known_profile else []
        if not rows:
            return "error/user_not_registered"
        return ",".join(f"sofia/{self._context.profile}/{row.contact}" for row in rows)

    def _sofia(self, arg: str | None) -> str:
        """``sofia status`` and ``sofia xmlstatus profile <name> reg`` (the rest of ``sofia`` is not
        simulated)."""
        words = (arg or "").split()
        if words == ["status"]:
            return self._sofia_status()
        if len(words) == 4 and words[:2] == ["xmlstatus", "profile"] and words[3] == "reg":
            if words[2] != self._context.profile and not self._context.is_local_domain(words[2]):
                return "Invalid Profile!\n"
            return self._sofia_xml_registrations()
        return "-ERR Usage: sofia status | sofia xmlstatus profile <name> reg\n"

    def _sofia_status(self) -> str:
        rule = "=" * 97 + "\n"
        lines = [f"{'Name':>25}\t{'Type':>7}\t{'Data':>42}\tState\n", rule]
        domains = self._context.domains()
        lines += [f"{domain:>25}\t{'alias':>7}\t{self._context.profile:>42}\tALIASED\n" for domain in domains]
        lines.append(
            f"{self._context.profile:>25}\t{'profile':>7}\t{'sip:mod_sofia@127.0.0.1:5060':>42}\tRUNNING (0)\n"
        )
        lines.append(rule)
        lines.append(f"1 profile {len(domains)} alias{'es' if len(domains) != 1 else ''}\n")
        return "".join(lines)

    def _sofia_xml_registrations(self) -> str:
        now = time.time()
        lines = ['<?xml version="1.0" encoding="ISO-8859-1"?>', "<profile>", "  <registrations>"]
        for row in self._context.sofia_rows():
            expiry = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.expires_at))
            fields = (
                ("call-id", row.call_id),
                ("user", f"{row.user}@{row.domain}"),
                ("contact", row.contact_header),
                ("agent", row.user_agent),
                ("status", f"Registered(UDP)(unknown) exp({expiry}) expsecs({int(row.expires_at - now)})"),
                ("ping-status", "Reachable"),
                ("ping-time", "0.00"),
                ("host", self._context.hostname),
                ("network-ip", row.network_ip),
                ("network-port", row.network_port),
                ("sip-auth-user", row.user),
                ("sip-auth-realm", row.domain),
                ("mwi-account", f"{row.user}@{row.domain}"),
            )
            lines.append("    <registration>")
            lines += [f"        <{name}>{escape(value)}</{name}>" for name, value in fields]
            lines.append("    </registration>")
        lines += ["  </registrations>", "</profile>"]
        return "\n".join(lines) + "\n"

    def _show(self, arg: str | None) -> str:
        words = (arg or "").split()
        if not words or words[0].lower() != "registrations":
            return "-USAGE: show registrations [as json|as xml]\n"
        rows = [self._registration_columns(row) for row in self._context.core_rows()]
        output = words[2].lower() if len(words) > 2 and words[1].lower() == "as" else "csv"
        if output == "json":
            if not rows:
                return '{"row_count": 0}'
            return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))
        if output == "xml":
            lines = [f'<result row_count="{len(rows)}">']
            for index, row in enumerate(rows, 1):
                lines.append(f'  <row row_id="{index}">')
                lines += [f"    <{name}>{value}</{name}>" for name, value in row.items()]
                lines.append("  </row>")
            lines.append("</result>")
            return "\n".join(lines) + "\n"
        if not rows:
            return "\n0 total.\n"
        lines = [",".join(_REGISTRATION_COLUMNS), *(",".join(row.values()) for row in rows)]
        return "\n".join(lines) + f"\n\n{len(rows)} total.\n"

    def _registration_columns(self, row: Registration) -> dict[str, str]:
        return {
            "reg_user": row.user,
            "realm": row.domain,
            "token": row.call_id,
            "url": f"sofia/{self._context.profile}/{row.contact}",
            "expires": str(row.expires_at),
            "network_ip": row.network_ip,
            "network_port": row.network_port,
            "network_proto": "udp",
            "hostname": self._context.hostname,
            "metadata": "",
        }


_REGISTRATION_COLUMNS = (
    "reg_user",
    "realm",
    "token",
    "url",
    "expires",
    "network_ip",
    "network_port",
    "network_proto",
    "hostname",
    "metadata",
)
