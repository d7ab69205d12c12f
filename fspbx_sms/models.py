"""The data model (DESIGN §3): SQLAlchemy 2.0 typed models, identical on SQLite and PostgreSQL.

The schema itself is owned by the Alembic migrations in ``fspbx_sms/migrations``; a test checks that the
migrations and these models agree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(DateTime):
    """A timestamp stored as UTC; SQLite forgets the zone, so it is put back on the way out."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def result_processor(self, dialect, coltype):
        """Return values as aware UTC datetimes on every backend."""
        parent = super().result_processor(dialect, coltype)

        def process(value):
            value = parent(value) if parent else value
            if value is not None and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value

        return process


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can rely on."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar = {datetime: UtcDateTime(), dict: JSON, list: JSON}


class Role(enum.StrEnum):
    """What a dashboard user may see."""

    #: Every domain.
    SUPERADMIN = "superadmin"
    #: Everything in one domain.
    ADMIN = "admin"
    #: The conversations of one extension.
    USER = "user"


class Direction(enum.StrEnum):
    """Which way a message travels, seen from the PBX."""

    #: From the outside world (a carrier) or a phone towards a person on the PBX.
    INBOUND = "inbound"
    #: From the PBX (a phone, the dashboard, the API) towards the outside world.
    OUTBOUND = "outbound"


class MessageStatus(enum.StrEnum):
    """Where a message stands (DESIGN §3 status set)."""

    #: Stored, jobs pending.
    QUEUED = "queued"
    #: The carrier accepted it, or a phone answered 2xx.
    SENT = "sent"
    #: The carrier reported delivery to the handset.
    DELIVERED = "delivered"
    #: It could not be sent (our side, or the carrier refused it for good).
    FAILED = "failed"
    #: The carrier accepted it but reported it did not reach the handset.
    UNDELIVERED = "undelivered"
    #: The carrier reported a status we do not know.
    UNKNOWN = "unknown"


class Origin(enum.StrEnum):
    """Who created a message."""

    #: A carrier webhook.
    CARRIER = "carrier"
    #: A SIP phone (a MESSAGE event from FreeSWITCH).
    SIP = "sip"
    #: A reply typed in the dashboard.
    DASHBOARD = "dashboard"
    #: The JSON API.
    API = "api"
    #: A voicemail notice.
    VOICEMAIL = "voicemail"
    #: An automatic answer (the HELP reply).
    AUTO = "auto"


class NumberPurpose(enum.StrEnum):
    """What a messaging number is for."""

    #: People text with it (conversations).
    USER = "user"
    #: The PBX sends notices from it (voicemail SMS); no conversations.
    SYSTEM_NOTIFICATION = "system_notification"


class JobKind(enum.StrEnum):
    """The side effect a job performs."""

    #: Deliver a text to an extension's SIP devices over ESL.
    SIP = "sip"
    #: Send through the carrier's HTTP API.
    CARRIER = "carrier"
    #: Send an email copy.
    EMAIL = "email"
    #: Download and store inbound media.
    MEDIA = "media"
    #: Call a push/notification hook.
    NOTIFY = "notify"
    #: Transcribe a voicemail recording before its SMS notice goes out.
    TRANSCRIBE = "transcribe"


class JobState(enum.StrEnum):
    """Where a job stands in the outbox."""

    #: Due at ``next_run_at``.
    PENDING = "pending"
    #: Claimed by a worker until ``lease_expires_at``.
    RUNNING = "running"
    #: Parked until something happens (the extension registers).
    WAITING = "waiting"
    #: Finished successfully.
    DONE = "done"
    #: Finished for good without success (permanent error, or out of attempts).
    DEAD = "dead"


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    """Store an enum as its value in a VARCHAR (portable, readable, no native enum type to migrate)."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Domain(Base):
    """A tenant: one FreeSWITCH domain, e.g. ``pbx.example.com``."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    #: Voicemail SMS text with {caller_name} {caller_number} {mailbox} {duration} {time}; empty = the default.
    voicemail_sms_template: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Extension(Base):
    """A PBX extension (``1001@pbx.example.com``) that can receive and send texts."""

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("domain_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    mobile_number: Mapped[str] = mapped_column(String(32), default="")
    voicemail_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A mobile app's webhook: every text for the extension is also POSTed there (JSON, HMAC-signed).
    push_url: Mapped[str] = mapped_column(String(1024), default="")
    #: The HMAC-SHA256 key of those POSTs, shared with the app.
    push_secret: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    domain: Mapped[Domain] = relationship()

    @property
    def address(self) -> str:
        """The SIP address, ``number@domain``."""
        return f"{self.number}@{self.domain.name}"


class User(Base):
    """A dashboard/API login."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    extension_id: Mapped[int | None] = mapped_column(ForeignKey("extensions.id", ondelete="SET NULL"))
    api_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    domain: Mapped[Domain | None] = relationship()
    extension: Mapped[Extension | None] = relationship()


class CarrierAccount(Base):
    """Credentials for one account at one carrier; several per provider, global or per domain."""

    __tablename__ = "carrier_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255), unique=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    #: Fernet-encrypted JSON of the credentials (secrets encrypted at rest).
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    #: Random secret for carriers whose only webhook protection is a secret in the URL.
    webhook_secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    domain: Mapped[Domain | None] = relationship()


class MessagingNumber(Base):
    """A phone number we text from/to, and where its texts go (Message Settings)."""

    __tablename__ = "messaging_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(String(32), unique=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    carrier_account_id: Mapped[int] = mapped_column(ForeignKey("carrier_accounts.id", ondelete="RESTRICT"))
    extension_id: Mapped[int | None] = mapped_column(ForeignKey("extensions.id", ondelete="SET NULL"))
    #: Addresses that get a read-only copy of inbound texts, comma separated.
    email: Mapped[str] = mapped_column(String(1024), default="")
    purpose: Mapped[NumberPurpose] = mapped_column(
        _enum(NumberPurpose, "number_purpose"), default=NumberPurpose.USER
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    domain: Mapped[Domain] = relationship()
    carrier_account: Mapped[CarrierAccount] = relationship()
    extension: Mapped[Extension | None] = relationship()


class Message(Base):
    """One text (SMS or MMS), inbound or outbound, with its overall status."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("carrier_account_id", "carrier_message_id"),
        Index("ix_messages_conversation", "domain_id", "our_number", "remote_numbers_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    #: Our E.164 number, when the message crosses a carrier.
    our_number: Mapped[str] = mapped_column(String(32), default="")
    #: The other party or parties (E.164, or an extension for extension-to-extension texts).
    remote_numbers: Mapped[list] = mapped_column(default=list)
    #: ``remote_numbers`` sorted and comma-joined, to find a conversation with one index.
    remote_numbers_key: Mapped[str] = mapped_column(String(1024), default="")
    extension_id: Mapped[int | None] = mapped_column(ForeignKey("extensions.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MessageStatus] = mapped_column(
        _enum(MessageStatus, "message_status"), default=MessageStatus.QUEUED
    )
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "origin"))
    carrier_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("carrier_accounts.id", ondelete="SET NULL")
    )
    carrier_message_id: Mapped[str | None] = mapped_column(String(255))
    #: ``Core-UUID:Event-Sequence`` of the FreeSWITCH MESSAGE event a phone text came from (dedupe key).
    esl_event_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_text: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    extension: Mapped[Extension | None] = relationship()
    carrier_account: Mapped[CarrierAccount | None] = relationship()
    media: Mapped[list[Media]] = relationship(back_populates="message", cascade="all, delete-orphan")
    jobs: Mapped[list[Job]] = relationship(back_populates="message", cascade="all, delete-orphan")
    events: Mapped[list[MessageEvent]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="MessageEvent.id"
    )


class Media(Base):
    """A picture or other attachment of an MMS."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    storage_key: Mapped[str | None] = mapped_column(String(512))
    original_url: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(back_populates="media")


class Job(Base):
    """One side effect of a message, in the outbox: claimed with a lease, retried with backoff."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "next_run_at"),
        Index("ix_jobs_waiting", "state", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, "job_kind"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    #: What the job acts on: ``1001@pbx.test`` (SIP), the remote number (carrier), an address (email).
    target: Mapped[str] = mapped_column(String(512), default="")
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), default=JobState.PENDING)
    #: Outcome for this destination, in the message status set.
    status: Mapped[MessageStatus] = mapped_column(
        _enum(MessageStatus, "message_status"), default=MessageStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    message: Mapped[Message | None] = relationship(back_populates="jobs")


class MessageEvent(Base):
    """The audit log: every webhook, status change and delivery attempt, with its raw payload."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message | None] = relationship(back_populates="events")


class EarlyStatus(Base):
    """A carrier status callback for a message id we do not know yet: kept until our send's answer (which carries
    that id) is recorded, then applied. Callbacks for messages that never turn out to be ours expire after a day.
    """

    __tablename__ = "early_statuses"
    __table_args__ = (Index("ix_early_statuses_message", "carrier_account_id", "carrier_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_account_id: Mapped[int] = mapped_column(ForeignKey("carrier_accounts.id", ondelete="CASCADE"))
    carrier_message_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_text: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SipRegistration(Base):
    """One registered SIP device (a contact) of an extension on one FreeSWITCH node.

    Kept from ``sofia::register``/``unregister``/``expire`` events and rebuilt from ``sofia xmlstatus`` on
    every (re)connect; a refresh updates the row of the same contact.
    """

    __tablename__ = "sip_registrations"
    __table_args__ = (
        UniqueConstraint("node", "user", "domain", "contact"),
        Index("ix_sip_registrations_address", "user", "domain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The configured name of the FreeSWITCH node the device registered with.
    node: Mapped[str] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(255))
    #: The contact URI the device registered (``sip:1001@192.0.2.10:5061``).
    contact: Mapped[str] = mapped_column(String(512))
    profile: Mapped[str] = mapped_column(String(64), default="")
    call_id: Mapped[str] = mapped_column(String(255), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    network_ip: Mapped[str] = mapped_column(String(64), default="")
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SipDeviceDelivery(Base):
    """What one device answered to one part of a text (the per-device delivery outcome)."""

    __tablename__ = "sip_device_deliveries"
    __table_args__ = (UniqueConstraint("job_id", "node", "contact", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    node: Mapped[str] = mapped_column(String(64))
    contact: Mapped[str] = mapped_column(String(512))
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    #: Which part of a split text (1-based).
    part: Mapped[int] = mapped_column(Integer, default=1)
    #: ``sent``, ``not_found`` (404), ``unavailable`` (480), ``timeout`` (no answer) or ``rejected``.
    status: Mapped[str] = mapped_column(String(32))
    #: The SIP status the device answered (0: no answer).
    sip_code: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VoicemailEvent(Base):
    """A voicemail left for an extension (``vm::maintenance`` ``leave-message``), for the engine to act on."""

    __tablename__ = "voicemail_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(255))
    caller_id_name: Mapped[str] = mapped_column(String(255), default="")
    caller_id_number: Mapped[str] = mapped_column(String(64), default="")
    #: Length of the recording in seconds.
    message_len: Mapped[int] = mapped_column(Integer, default=0)
    left_at: Mapped[datetime] = mapped_column()
    #: FreeSWITCH's ``VM-UUID``: one row per voicemail however often the event arrives.
    vm_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    file_path: Mapped[str] = mapped_column(Text, default="")
    #: Set once the engine has acted on it (voicemail SMS notices, a later issue).
    handled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OptOut(Base):
    """A remote number that asked (STOP) not to be texted from one of our numbers, or that its carrier blocks."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("our_number", "remote_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    our_number: Mapped[str] = mapped_column(String(32))
    remote_number: Mapped[str] = mapped_column(String(32))
    #: ``keyword`` (the person texted STOP) or ``carrier`` (the carrier refused a send as opted out).
    source: Mapped[str] = mapped_column(String(16), default="keyword")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
