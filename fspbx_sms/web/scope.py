"""Tenant isolation in one place: every query the dashboard and API make goes through :class:`Scope`.

A superadmin sees everything; a domain admin sees rows of their domain; an extension user sees only rows of
their own extension. A row outside the scope is reported as missing (404), never as forbidden, so ids of other
tenants cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from fspbx_sms.models import (
    CarrierAccount,
    Domain,
    Extension,
    Media,
    Message,
    MessagingNumber,
    Role,
    SipRegistration,
    User,
)

#: Models and the columns that tie their rows to a domain and to an extension (None: no extension column).
_TENANT_COLUMNS = {
    Message: (Message.domain_id, Message.extension_id),
    MessagingNumber: (MessagingNumber.domain_id, MessagingNumber.extension_id),
    CarrierAccount: (CarrierAccount.domain_id, None),
    Extension: (Extension.domain_id, Extension.id),
    Domain: (Domain.id, None),
}


@dataclass(frozen=True)
class Scope:
    """What one logged-in user may see."""

    user_id: int
    username: str
    role: Role
    domain_id: int | None
    extension_id: int | None

    @classmethod
    def of(cls, user: User) -> Scope:
        """The scope of a user row."""
        return cls(user.id, user.username, user.role, user.domain_id, user.extension_id)

    @property
    def is_admin(self) -> bool:
        """Superadmins and domain admins manage settings; extension users only text."""
        return self.role in (Role.SUPERADMIN, Role.ADMIN)

    def filter(self, query: Select, model: type) -> Select:
        """``query`` on ``model`` restricted to this scope."""
        domain_column, extension_column = _TENANT_COLUMNS[model]
        if self.role is Role.SUPERADMIN:
            return query
        if self.role is Role.ADMIN:
            return query.where(domain_column == self.domain_id)
        if extension_column is None or self.extension_id is None:
            return query.where(false())
        return query.where(extension_column == self.extension_id)

    def select(self, model: type) -> Select:
        """``SELECT model`` restricted to this scope."""
        return self.filter(select(model), model)

    def get(self, session: Session, model: type, row_id: int):
        """The row ``row_id`` of ``model`` if this scope sees it, else a 404."""
        primary = model.__mapper__.primary_key[0]
        row = session.scalars(self.select(model).where(primary == row_id)).one_or_none()
        if row is None:
            abort(404)
        return row

    def registrations(self) -> Select:
        """Registered SIP devices in scope (rows name their extension by ``user`` and ``domain`` text)."""
        query = select(SipRegistration).order_by(SipRegistration.domain, SipRegistration.user)
        if self.role is Role.SUPERADMIN:
            return query
        if self.role is Role.ADMIN:
            return query.join(Domain, Domain.name == SipRegistration.domain).where(Domain.id == self.domain_id)
        return (
            query.join(Extension, Extension.number == SipRegistration.user)
            .join(Domain, (Domain.id == Extension.domain_id) & (Domain.name == SipRegistration.domain))
            .where(Extension.id == self.extension_id)
        )

    def media(self, session: Session, media_id: int) -> Media:
        """A media row whose message this scope sees, else a 404."""
        row = session.get(Media, media_id)
        if row is None:
            abort(404)
        self.get(session, Message, row.message_id)
        return row
