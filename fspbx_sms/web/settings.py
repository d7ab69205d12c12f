"""Advanced → Message Settings: messaging numbers and carrier accounts (admins only)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from fspbx_sms.carriers import PROVIDERS, CarrierConfigError, CarrierError, get_adapter_class
from fspbx_sms.core.numbers import InvalidNumber, to_e164
from fspbx_sms.core.provisioning import ProvisioningError, add_carrier_account, add_number, get_or_create_extension
from fspbx_sms.db import session_scope
from fspbx_sms.models import CarrierAccount, Domain, MessagingNumber, NumberPurpose, Role
from fspbx_sms.web import services_of
from fspbx_sms.web.access import admin_required, current_scope

bp = Blueprint("settings", __name__, url_prefix="/settings")
bp.before_request(login_required(lambda: None))
bp.before_request(admin_required(lambda: None))


def _domains(session, scope) -> list[Domain]:
    return list(session.scalars(scope.select(Domain).order_by(Domain.name)))


def _chosen_domain(session, scope, domain_id: str) -> Domain:
    """The domain picked in a form; an admin always gets their own."""
    if scope.role is Role.ADMIN:
        return session.get(Domain, scope.domain_id)
    domain = session.get(Domain, int(domain_id)) if domain_id.isdigit() else None
    if domain is None:
        raise ProvisioningError("choose a domain")
    return domain


def _usable_accounts(session, scope) -> list[CarrierAccount]:
    """Carrier accounts a number may use: the domain's own, and shared ones (superadmin set-up)."""
    query = select(CarrierAccount).order_by(CarrierAccount.name)
    if scope.role is not Role.SUPERADMIN:
        query = query.where(or_(CarrierAccount.domain_id == scope.domain_id, CarrierAccount.domain_id.is_(None)))
    return list(session.scalars(query))


# -- numbers ---------------------------------------------------------------------------------------------


@bp.get("/numbers")
def numbers() -> str:
    """List and search the numbers in scope."""
    scope = current_scope()
    search = request.args.get("q", "").strip()
    with session_scope(services_of(current_app).sessions) as session:
        query = scope.select(MessagingNumber).order_by(MessagingNumber.e164)
        if search:
            query = query.where(
                or_(
                    MessagingNumber.e164.contains(search, autoescape=True),
                    MessagingNumber.email.contains(search, autoescape=True),
                )
            )
        rows = list(session.scalars(query))
        return render_template("settings/numbers.html", numbers=rows, search=search)


def _apply_number_form(session, scope, row: MessagingNumber | None) -> MessagingNumber:
    """Create or update a number from the submitted form."""
    form = request.form
    settings = services_of(current_app).settings
    system = form.get("purpose") == NumberPurpose.SYSTEM_NOTIFICATION.value
    extension = form.get("extension", "").strip()
    accounts = {str(a.id): a for a in _usable_accounts(session, scope)}
    account = accounts.get(form.get("carrier_account_id", ""))
    if account is None:
        raise ProvisioningError("choose a carrier account")
    domain = _chosen_domain(session, scope, form.get("domain_id", ""))
    address = f"{extension}@{domain.name}" if extension else None
    if row is None:
        return add_number(
            session,
            number=form.get("number", ""),
            carrier=account.name,
            extension=address,
            email=form.get("email", ""),
            system=system,
            domain=domain.name,
            default_region=settings.default_region,
        )
    e164 = to_e164(form.get("number", ""), settings.default_region)
    clash = session.scalars(select(MessagingNumber).where(MessagingNumber.e164 == e164)).one_or_none()
    if clash is not None and clash.id != row.id:
        raise ProvisioningError(f"{e164} is already configured")
    if system and address:
        raise ProvisioningError("a system notification number is not tied to an extension")
    if account.domain_id is not None and account.domain_id != domain.id:
        raise ProvisioningError(f"carrier account {account.name!r} belongs to another domain")
    row.e164, row.carrier_account, row.domain = e164, account, domain
    row.extension = get_or_create_extension(session, address) if address else None
    row.email = form.get("email", "").strip()
    row.purpose = NumberPurpose.SYSTEM_NOTIFICATION if system else NumberPurpose.USER
    row.enabled = form.get("enabled") == "on"
    return row


@bp.route("/numbers/new", methods=["GET", "POST"])
@bp.route("/numbers/<int:number_id>", methods=["GET", "POST"])
def number_form(number_id: int | None = None) -> str | Response | tuple[str, int]:
    """Add or edit a number: E.164, carrier account, destination extension and/or emails, purpose."""
    scope = current_scope()
    with session_scope(services_of(current_app).sessions) as session:
        row = scope.get(session, MessagingNumber, number_id) if number_id else None
        if request.method == "POST":
            try:
                with session.begin_nested():
                    saved = _apply_number_form(session, scope, row)
            except (ProvisioningError, InvalidNumber) as err:
                flash(str(err), "error")
            else:
                flash(f"{saved.e164} saved.", "ok")
                return redirect(url_for("settings.numbers"))
        page = render_template(
            "settings/number_form.html",
            number=row,
            form=request.form,
            accounts=_usable_accounts(session, scope),
            domains=_domains(session, scope),
        )
        return (page, 400) if request.method == "POST" else page


@bp.post("/numbers/<int:number_id>/delete")
def number_delete(number_id: int) -> Response:
    """Delete a number (its messages stay in the logs)."""
    with session_scope(services_of(current_app).sessions) as session:
        row = current_scope().get(session, MessagingNumber, number_id)
        flash(f"{row.e164} deleted.", "ok")
        session.delete(row)
    return redirect(url_for("settings.numbers"))


# -- carrier accounts -----------------------------------------------------------------------------------


@bp.get("/carriers")
def carriers() -> str:
    """The carrier accounts in scope, with their webhook URLs."""
    scope = current_scope()
    base_url = services_of(current_app).settings.base_url
    with session_scope(services_of(current_app).sessions) as session:
        rows = list(session.scalars(scope.select(CarrierAccount).order_by(CarrierAccount.name)))
        hooks = {
            row.id: get_adapter_class(row.provider).webhook_url(base_url, row.id, row.webhook_secret)
            for row in rows
            if row.provider in PROVIDERS
        }
        return render_template("settings/carriers.html", accounts=rows, hooks=hooks, providers=PROVIDERS)


def _credentials_from_form(provider: str, previous: dict[str, str]) -> dict[str, str]:
    """The submitted credential fields; a secret left blank keeps its stored value."""
    adapter = get_adapter_class(provider)
    credentials = {}
    for field in adapter.credential_fields:
        value = request.form.get(f"cred_{field.name}", "").strip()
        if not value and field.secret:
            value = previous.get(field.name, "")
        if value:
            credentials[field.name] = value
    base_url = request.form.get("cred_base_url", "").strip()
    if base_url:
        credentials["base_url"] = base_url
    return credentials


@bp.route("/carriers/new", methods=["GET", "POST"])
@bp.route("/carriers/<int:account_id>", methods=["GET", "POST"])
def carrier_form(account_id: int | None = None) -> str | Response | tuple[str, int]:
    """Add or edit a carrier account; secrets are never shown again (blank keeps them)."""
    scope = current_scope()
    services = services_of(current_app)
    with session_scope(services.sessions) as session:
        row = scope.get(session, CarrierAccount, account_id) if account_id else None
        provider = row.provider if row else request.values.get("provider", next(iter(PROVIDERS)))
        if provider not in PROVIDERS:
            abort(404)
        stored = services.box.open(row.credentials_encrypted) if row else {}
        if request.method == "POST":
            try:
                with session.begin_nested():
                    credentials = _credentials_from_form(provider, stored)
                    name = request.form.get("name", "").strip()
                    if not name:
                        raise ProvisioningError("give the account a name")
                    if row is None:
                        domain_id = request.form.get("domain_id", "")
                        shared = scope.role is Role.SUPERADMIN and not domain_id
                        domain = None if shared else _chosen_domain(session, scope, domain_id).name
                        row = add_carrier_account(
                            session, services.box, provider=provider, name=name, credentials=credentials,
                            domain=domain,
                        )
                    else:
                        checked = get_adapter_class(provider).validate_credentials(credentials)
                        row.name = name
                        row.credentials_encrypted = services.box.seal(checked)
                        row.enabled = request.form.get("enabled") == "on"
            except (ProvisioningError, CarrierConfigError) as err:
                flash(str(err), "error")
            else:
                flash(f"Carrier account {row.name} saved.", "ok")
                return redirect(url_for("settings.carriers"))
        adapter = PROVIDERS[provider]
        public = {f.name: stored.get(f.name, "") for f in adapter.credential_fields if not f.secret}
        public["base_url"] = stored.get("base_url", "")
        page = render_template(
            "settings/carrier_form.html",
            account=row,
            adapter=adapter,
            provider=provider,
            providers=PROVIDERS,
            public=public,
            has_secret={f.name: bool(stored.get(f.name)) for f in adapter.credential_fields if f.secret},
            domains=_domains(session, scope),
            webhook_url=adapter.webhook_url(services.settings.base_url, row.id, row.webhook_secret) if row else "",
        )
        return (page, 400) if request.method == "POST" else page


@bp.post("/carriers/<int:account_id>/test")
def carrier_test(account_id: int) -> Response:
    """Check the stored credentials against the carrier where it offers a harmless authenticated call."""
    services = services_of(current_app)
    with session_scope(services.sessions) as session:
        row = current_scope().get(session, CarrierAccount, account_id)
        try:
            checked = services.adapters.get(row).check_online()
        except CarrierConfigError as err:
            flash(f"{row.name}: {err}", "error")
        except CarrierError as err:
            flash(f"{row.name}: {err}", "error")
        else:
            flash(f"{row.name}: the carrier accepted these credentials." if checked else
                  f"{row.name}: the credentials are complete and well-formed "
                  f"({row.provider} offers no call to check them).", "ok")
    return redirect(url_for("settings.carriers"))


@bp.post("/carriers/<int:account_id>/delete")
def carrier_delete(account_id: int) -> Response:
    """Delete a carrier account that no number uses."""
    with session_scope(services_of(current_app).sessions) as session:
        row = current_scope().get(session, CarrierAccount, account_id)
        used = session.scalars(select(MessagingNumber.id).where(MessagingNumber.carrier_account_id == row.id)).first()
        if used is not None:
            flash(f"{row.name} still carries numbers; move or delete them first.", "error")
        else:
            session.delete(row)  # its messages keep their history; their carrier_account_id is set to NULL
            flash(f"Carrier account {row.name} deleted.", "ok")
    return redirect(url_for("settings.carriers"))
