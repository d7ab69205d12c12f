"""Alembic environment: runs on the connection or engine handed over by ``fspbx_sms.db``."""

from alembic import context

from fspbx_sms.models import Base

config = context.config


def run_migrations() -> None:
    """Run the migrations online, on the connection given by the caller (or a new one from its engine)."""
    connection = config.attributes.get("connection")
    if connection is None:
        with config.attributes["engine"].begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
