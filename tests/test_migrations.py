"""The Alembic migrations create exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fspbx_sms.db import upgrade
from fspbx_sms.models import Base


def test_migrated_schema_matches_the_models(db_engine):
    """No difference between the migrated database and the models (tables, columns, types, indexes)."""
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_twice_is_harmless(db_engine):
    """``fspbx-sms run`` upgrades at every start; an up-to-date schema is left alone."""
    upgrade(db_engine)
    upgrade(db_engine)
    assert set(Base.metadata.tables) <= set(inspect(db_engine).get_table_names())
