"""Typed settings: defaults < ``FSPBX_SMS_*`` environment variables < explicit overrides.

Every setting has a default that works on a fresh machine (SQLite in the working directory, HTTP on
127.0.0.1:8080, FreeSWITCH's event socket on 127.0.0.1:8021 with its stock password). A missing or bad
value fails at start with a :class:`ConfigError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

ENV_PREFIX = "FSPBX_SMS_"


class ConfigError(ValueError):
    """A setting is missing or has a value we cannot use; the message names the setting."""

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        super().__init__(f"{ENV_PREFIX}{setting.upper()}: {problem}")


@dataclass(frozen=True)
class EslNode:
    """One FreeSWITCH event socket we connect to."""

    name: str
    host: str
    port: int
    password: str


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment; numbers and carriers live in the database."""

    #: SQLAlchemy URL; SQLite file in the working directory by default, ``postgresql://…`` in production.
    database_url: str = "sqlite:///fspbx-sms.sqlite3"
    #: Where the dashboard and webhooks listen.
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    #: The URL carriers and browsers use to reach us (webhook URLs and media links are built from it).
    public_url: str = ""
    #: FreeSWITCH event socket (mod_event_socket) of the one node; see ``esl_nodes`` for several.
    esl_host: str = "127.0.0.1"
    esl_port: int = 8021
    esl_password: str = field(default="ClueCon", repr=False)
    #: Extra nodes as ``name=host:port:password`` separated by commas (issue: several FreeSWITCH nodes).
    esl_nodes: str = ""
    #: Reconnect when FreeSWITCH has been silent this long (it sends HEARTBEAT every 20 s).
    esl_heartbeat_timeout: float = 60.0
    #: How long one ESL command may take before the connection is considered broken.
    esl_command_timeout: float = 10.0
    #: How long to wait for a phone's answer to a text (FreeSWITCH gives up after ~20 s per device).
    sip_result_timeout: float = 65.0
    #: Texts to phones longer than this many UTF-8 bytes are sent as several MESSAGEs (safe for UDP).
    sip_max_bytes: int = 1300
    #: A text waiting this long for an offline extension goes to its number's email address instead.
    waiting_email_after: float = 24 * 3600.0
    #: Key for encrypting carrier secrets at rest and signing sessions/media links; a key file by default.
    secret_key: str = field(default="", repr=False)
    secret_key_file: str = "fspbx-sms.secret"
    #: Outbox: worker greenlets in this process, lease length, attempts before a job is ``dead``.
    workers: int = 8
    job_lease_seconds: float = 180.0
    job_max_attempts: int = 8
    job_backoff_initial: float = 2.0
    job_backoff_max: float = 600.0
    job_poll_interval: float = 1.0
    #: Run the outbox workers / the ESL connection in this process (turn off for web-only processes).
    run_workers: bool = True
    run_esl: bool = True
    #: Country assumed for numbers dialled without a "+" country code (ISO 3166 code).
    default_region: str = "US"
    log_level: str = "INFO"
    #: Where media files are kept: ``local`` (``media_dir``) or ``s3`` (an S3-compatible bucket that several
    #: workers share; see the ``s3_*`` settings).
    media_storage: str = "local"
    #: Directory of the ``local`` store (files named by their SHA-256).
    media_dir: str = "media"
    #: The ``s3`` store: bucket, key prefix, endpoint (empty = AWS; MinIO/Ceph/Wasabi/B2 give theirs), region,
    #: keys (empty = boto3's own chain: AWS_* variables, instance role) and ``path`` or ``virtual`` addressing.
    s3_bucket: str = ""
    s3_prefix: str = "media/"
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = field(default="", repr=False)
    s3_addressing_style: str = "path"
    #: How long a signed media link (given to carriers for MMS) stays valid.
    media_url_ttl: float = 7 * 24 * 3600.0
    #: Dashboard login rate limit: this many failures per (address, username) lock it out for a while.
    login_max_failures: int = 5
    login_lockout_seconds: float = 300.0
    #: Largest inbound MMS attachment we download and keep (bytes).
    media_max_bytes: int = 5 * 1024 * 1024
    #: SMTP server for email copies of texts; empty = no email copies.
    smtp_host: str = ""
    smtp_port: int = 25
    #: ``none``, ``starttls`` or ``tls`` (implicit TLS, usually port 465).
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = "fspbx-sms@localhost"
    #: Command that prints a voicemail recording's transcript (the file path is appended); empty = none.
    transcription_command: str = ""
    #: Messages (and their pictures) older than this many days are purged daily; 0 keeps everything.
    retention_days: int = 0
    #: The automatic answer to a HELP text; empty = no answer.
    help_reply: str = "Reply STOP to stop receiving texts from this number. Msg&data rates may apply."
    #: Voicemail SMS text unless the domain sets its own; placeholders {caller_name} {caller_number} {mailbox}
    #: {duration} {time}.
    voicemail_sms_template: str = (
        "New voicemail for {mailbox} from {caller_name} {caller_number} ({duration}s) at {time}."
    )

    @property
    def base_url(self) -> str:
        """The public URL without a trailing slash, defaulting to the HTTP listener."""
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    def nodes(self) -> list[EslNode]:
        """The FreeSWITCH nodes to connect to: the main one, then any listed in ``esl_nodes``."""
        nodes = [EslNode("fs1", self.esl_host, self.esl_port, self.esl_password)]
        for item in filter(None, (part.strip() for part in self.esl_nodes.split(","))):
            name, sep, rest = item.partition("=")
            host, _, tail = rest.partition(":")
            port, _, password = tail.partition(":")
            if not (sep and name and host and port.isdigit()):
                raise ConfigError("esl_nodes", f"expected name=host:port:password, got {item!r}")
            nodes.append(EslNode(name, host, int(port), password or self.esl_password))
        return nodes


def _convert(name: str, kind: Any, raw: str) -> Any:
    """Turn one environment string into the setting's type, or raise ConfigError naming it."""
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(name, f"expected true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(name, f"expected a number, got {raw!r}") from None
    return raw


def _validate(settings: Settings) -> None:
    """Check values that have the right type but cannot work."""
    for name in ("http_port", "esl_port"):
        port = getattr(settings, name)
        if not 0 <= port <= 65535:
            raise ConfigError(name, f"port must be 0-65535, got {port}")
    for name in ("workers", "job_max_attempts", "login_max_failures", "sip_max_bytes"):
        if getattr(settings, name) < 1:
            raise ConfigError(name, "must be at least 1")
    for name in (
        "job_lease_seconds",
        "sip_result_timeout",
        "esl_heartbeat_timeout",
        "esl_command_timeout",
        "waiting_email_after",
        "media_url_ttl",
        "login_lockout_seconds",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigError(name, "must be greater than 0")
    if not settings.database_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError("database_url", "only sqlite:/// and postgresql:// URLs are supported")
    if len(settings.default_region) != 2 or not settings.default_region.isalpha():
        raise ConfigError(
            "default_region", f"expected a two-letter country code, got {settings.default_region!r}"
        )
    if settings.smtp_security not in {"none", "starttls", "tls"}:
        raise ConfigError("smtp_security", f"expected none, starttls or tls, got {settings.smtp_security!r}")
    if settings.media_storage not in {"local", "s3"}:
        raise ConfigError("media_storage", f"expected local or s3, got {settings.media_storage!r}")
    if settings.media_storage == "s3" and not settings.s3_bucket:
        raise ConfigError("s3_bucket", "required when FSPBX_SMS_MEDIA_STORAGE is s3")
    if settings.s3_addressing_style not in {"path", "virtual"}:
        raise ConfigError("s3_addressing_style", f"expected path or virtual, got {settings.s3_addressing_style!r}")
    if settings.retention_days < 0:
        raise ConfigError("retention_days", "must be 0 (keep everything) or more")
    if settings.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("log_level", f"expected DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
    settings.nodes()


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, then ``FSPBX_SMS_*`` variables, then keyword overrides; validate them."""
    environ = os.environ if environ is None else environ
    hints = get_type_hints(Settings)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(Settings):
        raw = environ.get(ENV_PREFIX + item.name.upper())
        if raw is not None:
            values[item.name] = _convert(item.name, hints[item.name], raw)
    unknown = set(overrides) - set(hints)
    if unknown:
        raise ConfigError(sorted(unknown)[0], "no such setting")
    values.update(overrides)
    settings = Settings(**values)
    _validate(settings)
    return settings
