"""Database engine, sessions and schema upgrades (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def driver_url(url: str) -> str:
    """``postgresql://`` means psycopg2 (made cooperative by psycogreen); SQLAlchemy 2.1 would pick psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, connections: int = 10) -> Engine:
    """Create the engine for ``url`` with the settings each backend needs under gevent.

    On PostgreSQL ``connections`` stay open (plus up to 10 more in bursts): enough for every outbox worker and
    the web requests beside them, so busy moments do not open and close connections.
    """
    url = driver_url(url)
    if url.startswith("sqlite"):
        # One connection, handed out through a (gevent-aware, once patched) queue: greenlets wait their turn
        # in Python instead of spinning in SQLite's busy handler, which would block the whole process.
        engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=connections, max_overflow=10, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout for other processes, and BEGIN IMMEDIATE (one writer at a time)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs our packaged migrations on ``engine``."""
    config = Config()
    config.set_main_option("script_location", "fspbx_sms:migrations")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; idempotent, and safe when several processes start at once."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Serialise concurrent upgrades of several workers starting together.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74797731)")
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

