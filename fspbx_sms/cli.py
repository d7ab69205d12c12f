"""The ``fspbx-sms`` command: run the service, upgrade the database, provision carriers, numbers and users."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

import click

from fspbx_sms.carriers import CarrierConfigError, get_adapter_class
from fspbx_sms.config import ConfigError, Settings, load_settings
from fspbx_sms.core import provisioning
from fspbx_sms.core.numbers import InvalidNumber
from fspbx_sms.core.services import Services
from fspbx_sms.db import session_scope, upgrade
from fspbx_sms.models import Role

_USER_ERRORS = (ConfigError, provisioning.ProvisioningError, CarrierConfigError, InvalidNumber)


def _clear_errors(command: Callable) -> Callable:
    """Turn configuration and provisioning mistakes into a one-line error and exit status 1."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except _USER_ERRORS as err:
            raise click.ClickException(str(err)) from None

    return wrapper


@contextmanager
def _provisioning() -> Iterator[tuple[Settings, Services]]:
    """Settings and services for a one-shot command, with the schema brought up to date."""
    from fspbx_sms.service import build_services

    settings = load_settings()
    services = build_services(settings)
    try:
        upgrade(services.engine)
        yield settings, services
    finally:
        services.engine.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """fspbx-sms: SMS/MMS for FreeSWITCH PBXs. Settings come from FSPBX_SMS_* environment variables."""


@cli.command()
@_clear_errors
def run() -> None:
    """Run everything in one process: HTTP (webhooks, health), FreeSWITCH connections, outbox workers."""
    from fspbx_sms.service import Service

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Our DEBUG is about texts; the HTTP and S3 libraries' DEBUG dumps every request they make.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    service = Service(settings)
    service.start()
    service.serve_forever()


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@_clear_errors
def db_upgrade() -> None:
    """Bring the database schema up to date (``run`` does this by itself too)."""
    with _provisioning():
        click.echo("database schema is up to date")


@cli.group()
def carrier() -> None:
    """Carrier accounts."""


def _parse_assignments(assignments: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        values[key.strip()] = value
    return values


@carrier.command("add")
@click.option("--provider", required=True, help="Carrier: telnyx, ...")
@click.option("--name", required=True, help="A unique name for this account.")
@click.option("--domain", help="Tenant that owns the account (default: shared by all domains).")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="A credential, e.g. --set api_key=… ; every carrier accepts --set base_url=….",
)
@_clear_errors
def carrier_add(provider: str, name: str, domain: str | None, assignments: tuple[str, ...]) -> None:
    """Add a carrier account; prints JSON with its id and the webhook URL to give the carrier."""
    with _provisioning() as (settings, services), session_scope(services.sessions) as session:
        account = provisioning.add_carrier_account(
            session,
            services.box,
            provider=provider,
            name=name,
            domain=domain,
            credentials=_parse_assignments(assignments),
        )
        output = {
            "id": account.id,
            "name": account.name,
            "provider": account.provider,
            "webhook_url": get_adapter_class(provider).webhook_url(
                settings.base_url, account.id, account.webhook_secret
            ),
        }
    click.echo(json.dumps(output))


@cli.group()
def number() -> None:
    """Messaging numbers (Message Settings)."""


@number.command("add")
@click.argument("phone_number")
@click.option("--carrier", required=True, help="Name of the carrier account the number is with.")
@click.option("--extension", help="Deliver texts to this extension, written number@domain.")
@click.option("--email", default="", help="Send a read-only copy of texts to these addresses (comma separated).")
@click.option("--system", is_flag=True, help="A system notification number (voicemail SMS), not for chats.")
@click.option("--domain", help="Tenant of the number when it has no extension.")
@_clear_errors
def number_add(
    phone_number: str, carrier: str, extension: str | None, email: str, system: bool, domain: str | None
) -> None:
    """Route a phone number through a carrier account to an extension and/or email."""
    with _provisioning() as (settings, services), session_scope(services.sessions) as session:
        row = provisioning.add_number(
            session,
            number=phone_number,
            carrier=carrier,
            extension=extension,
            email=email,
            system=system,
            domain=domain,
            default_region=settings.default_region,
        )
        output = {
            "id": row.id,
            "number": row.e164,
            "carrier": carrier,
            "extension": extension,
            "purpose": row.purpose.value,
        }
    click.echo(json.dumps(output))


@cli.group()
def domain() -> None:
    """Domains (tenants)."""


@domain.command("set")
@click.argument("name")
@click.option("--voicemail-template", help="Voicemail SMS text: {caller_name} {caller_number} {mailbox} {duration} "
              "{time}; empty = the default.")
@_clear_errors
def domain_set(name: str, voicemail_template: str | None) -> None:
    """Change a domain (created if new)."""
    with _provisioning() as (_, services), session_scope(services.sessions) as session:
        row = provisioning.get_or_create_domain(session, name)
        if voicemail_template is not None:
            row.voicemail_sms_template = voicemail_template.strip()
        output = {"domain": row.name, "voicemail_template": row.voicemail_sms_template}
    click.echo(json.dumps(output))


@cli.group()
def extension() -> None:
    """Extensions (mobile number, voicemail SMS)."""


@extension.command("set")
@click.argument("address")
@click.option("--mobile", help="The owner's mobile number, for voicemail SMS notices.")
@click.option("--voicemail-sms/--no-voicemail-sms", default=None, help="Text the mobile when a voicemail is left.")
@click.option("--push-url", help="Mobile app webhook: every text for the extension is POSTed there, signed "
              "(empty string turns it off).")
@_clear_errors
def extension_set(address: str, mobile: str | None, voicemail_sms: bool | None, push_url: str | None) -> None:
    """Change an extension (written number@domain; created if new); prints the push signing secret."""
    with _provisioning() as (settings, services), session_scope(services.sessions) as session:
        row = provisioning.update_extension(
            session, address, mobile_number=mobile, voicemail_sms=voicemail_sms, push_url=push_url,
            default_region=settings.default_region,
        )
        output = {"extension": row.address, "mobile": row.mobile_number, "voicemail_sms": row.voicemail_sms,
                  "push_url": row.push_url, "push_secret": row.push_secret}
    click.echo(json.dumps(output))


@cli.group()
def user() -> None:
    """Dashboard users."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--domain", help="The domain an admin manages.")
@click.option("--extension", help="The extension (number@domain) an extension user owns.")
@_clear_errors
def user_add(username: str, role: str, domain: str | None, extension: str | None) -> None:
    """Add a dashboard user; the password is read from standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    with _provisioning() as (_, services), session_scope(services.sessions) as session:
        row = provisioning.add_user(
            session, username=username, password=password, role=Role(role), domain=domain, extension=extension
        )
        output = {"id": row.id, "username": row.username, "role": row.role.value}
    click.echo(json.dumps(output))


@cli.command()
@click.option("--days", type=click.IntRange(min=1), help="Age in days (default: FSPBX_SMS_RETENTION_DAYS).")
@_clear_errors
def purge(days: int | None) -> None:
    """Delete messages older than the retention age, with their pictures, jobs and audit log."""
    from fspbx_sms.service import purge_expired

    with _provisioning() as (settings, services):
        age = days or settings.retention_days
        if not age:
            raise click.ClickException("say how old: --days N, or set FSPBX_SMS_RETENTION_DAYS")
        removed = purge_expired(services, age)
    click.echo(json.dumps({"purged_messages": removed, "older_than_days": age}))
