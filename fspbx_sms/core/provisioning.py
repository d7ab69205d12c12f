"""Creating the things an administrator sets up: domains, extensions, carrier accounts, numbers, users."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from fspbx_sms.carriers import get_adapter_class
from fspbx_sms.core.numbers import to_e164
from fspbx_sms.core.secrets import CredentialBox
from fspbx_sms.models import CarrierAccount, Domain, Extension, MessagingNumber, NumberPurpose, Role, User


class ProvisioningError(ValueError):
    """A request to set something up that cannot be honoured; the message says why."""


def get_or_create_domain(session: Session, name: str) -> Domain:
    """The domain called ``name`` (lower-cased), created if new."""
    name = name.strip().lower()
    if not name:
        raise ProvisioningError("a domain name is required")
    domain = session.scalars(select(Domain).where(Domain.name == name)).one_or_none()
    if domain is None:
        domain = Domain(name=name)
        session.add(domain)
        session.flush()
    return domain


def get_or_create_extension(session: Session, address: str) -> Extension:
    """The extension ``number@domain``, created (with its domain) if new."""
    number, at, domain_name = address.strip().partition("@")
    if not (number and at and domain_name):
        raise ProvisioningError(f"an extension is written number@domain, got {address!r}")
    domain = get_or_create_domain(session, domain_name)
    extension = session.scalars(
        select(Extension).where(Extension.domain_id == domain.id, Extension.number == number)
    ).one_or_none()
    if extension is None:
        extension = Extension(domain=domain, number=number)
        session.add(extension)
        session.flush()
    return extension


def add_carrier_account(
    session: Session,
    box: CredentialBox,
    *,
    provider: str,
    name: str,
    credentials: dict[str, str],
    domain: str | None = None,
) -> CarrierAccount:
    """Store a carrier account after the adapter has validated its credentials."""
    adapter_class = get_adapter_class(provider)
    checked = adapter_class.validate_credentials(credentials)
    if session.scalars(select(CarrierAccount).where(CarrierAccount.name == name)).one_or_none():
        raise ProvisioningError(f"a carrier account named {name!r} already exists")
    account = CarrierAccount(
        provider=adapter_class.provider,
        name=name,
        domain=get_or_create_domain(session, domain) if domain else None,
        credentials_encrypted=box.seal(checked),
        webhook_secret=secrets.token_urlsafe(24),
    )
    session.add(account)
    session.flush()
    return account


def add_number(
    session: Session,
    *,
    number: str,
    carrier: str,
    extension: str | None = None,
    email: str = "",
    system: bool = False,
    domain: str | None = None,
    default_region: str = "US",
) -> MessagingNumber:
    """Route the phone number ``number`` through carrier account ``carrier`` to an extension and/or email."""
    e164 = to_e164(number, default_region)
    account = session.scalars(select(CarrierAccount).where(CarrierAccount.name == carrier)).one_or_none()
    if account is None:
        raise ProvisioningError(f"no carrier account named {carrier!r}")
    if session.scalars(select(MessagingNumber).where(MessagingNumber.e164 == e164)).one_or_none():
        raise ProvisioningError(f"{e164} is already configured")
    target = get_or_create_extension(session, extension) if extension else None
    if system and target is not None:
        raise ProvisioningError("a system notification number is not tied to an extension")
    owner = target.domain if target else (get_or_create_domain(session, domain) if domain else account.domain)
    if owner is None:
        raise ProvisioningError("say which domain the number belongs to (--domain or --extension)")
    if account.domain is not None and account.domain.id != owner.id:
        raise ProvisioningError(f"carrier account {carrier!r} belongs to another domain")
    row = MessagingNumber(
        e164=e164,
        domain=owner,
        carrier_account=account,
        extension=target,
        email=email.strip(),
        purpose=NumberPurpose.SYSTEM_NOTIFICATION if system else NumberPurpose.USER,
    )
    session.add(row)
    session.flush()
    return row


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    domain: str | None = None,
    extension: str | None = None,
) -> User:
    """Create a dashboard login; admins need a domain, extension users an extension."""
    if len(password) < 8:
        raise ProvisioningError("the password must be at least 8 characters")
    if session.scalars(select(User).where(User.username == username)).one_or_none():
        raise ProvisioningError(f"a user named {username!r} already exists")
    target = get_or_create_extension(session, extension) if extension else None
    owner = target.domain if target else (get_or_create_domain(session, domain) if domain else None)
    if role is Role.ADMIN and owner is None:
        raise ProvisioningError("a domain admin needs --domain")
    if role is Role.USER and target is None:
        raise ProvisioningError("an extension user needs --extension")
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        domain=None if role is Role.SUPERADMIN else owner,
        extension=target,
    )
    session.add(user)
    session.flush()
    return user


def update_extension(
    session: Session,
    address: str,
    *,
    mobile_number: str | None = None,
    voicemail_sms: bool | None = None,
    push_url: str | None = None,
    default_region: str = "US",
) -> Extension:
    """Set an extension's mobile number (E.164), whether voicemails are announced to it by SMS, and the mobile
    app webhook its texts are pushed to (a signing secret is made the first time)."""
    extension = get_or_create_extension(session, address)
    if push_url is not None:
        url = push_url.strip()
        if url and not url.startswith(("https://", "http://")):
            raise ProvisioningError("the push URL must be an http:// or https:// URL")
        extension.push_url = url
        if url and not extension.push_secret:
            extension.push_secret = secrets.token_urlsafe(32)
    if mobile_number is not None:
        extension.mobile_number = to_e164(mobile_number, default_region) if mobile_number.strip() else ""
    if voicemail_sms is not None:
        if voicemail_sms and not extension.mobile_number:
            raise ProvisioningError(f"{extension.address} needs a mobile number for voicemail SMS")
        extension.voicemail_sms = voicemail_sms
    return extension
