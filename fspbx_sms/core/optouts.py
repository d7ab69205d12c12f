"""Who asked not to be texted: STOP/START keywords and carriers' opt-out refusals, per (our number, remote)."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fspbx_sms.core.keywords import Keyword
from fspbx_sms.models import OptOut

log = logging.getLogger(__name__)


def is_opted_out(session: Session, our_number: str, remote_number: str) -> bool:
    """True when ``remote_number`` asked not to get texts from ``our_number``."""
    return session.scalars(
        select(OptOut.id).where(OptOut.our_number == our_number, OptOut.remote_number == remote_number)
    ).first() is not None


def opt_out(session: Session, our_number: str, remote_number: str, source: str) -> None:
    """Record that ``remote_number`` must not be texted from ``our_number`` (idempotent)."""
    if not is_opted_out(session, our_number, remote_number):
        session.add(OptOut(our_number=our_number, remote_number=remote_number, source=source))
        log.info("%s opted out of texts from %s (%s)", remote_number, our_number, source)


def opt_in(session: Session, our_number: str, remote_number: str) -> None:
    """Lift an opt-out (the person texted START)."""
    session.execute(delete(OptOut).where(OptOut.our_number == our_number, OptOut.remote_number == remote_number))


def apply_keyword(session: Session, keyword: Keyword, our_number: str, remote_number: str) -> None:
    """Act on a STOP or START text (HELP changes nothing here; the caller answers it)."""
    if keyword is Keyword.STOP:
        opt_out(session, our_number, remote_number, "keyword")
    elif keyword is Keyword.START:
        opt_in(session, our_number, remote_number)
