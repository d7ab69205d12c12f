"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when FSPBX_SMS_TEST_POSTGRES is set),
the ESL simulator, and the real ``fspbx-sms`` service started as a subprocess."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fspbx_sms.db import driver_url, make_engine, upgrade
from tests.service_process import ServiceProcess

#: Admin URL of a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/test); unset = SQLite only.
POSTGRES_ADMIN_URL = os.environ.get("FSPBX_SMS_TEST_POSTGRES", "")


def _admin_engine():
    return create_engine(driver_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A migrated PostgreSQL database that each test copies (CREATE DATABASE … TEMPLATE is fast)."""
    if not POSTGRES_ADMIN_URL:
        yield None
        return
    name = f"fspbx_tmpl_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(tmp_path, postgres_template) -> Iterator[str]:
    """A fresh, migrated database for one test: a SQLite file, or a new PostgreSQL database."""
    if postgres_template is None:
        url = f"sqlite:///{tmp_path / 'fspbx-sms.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    name = f"fspbx_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db_engine(database_url):
    """An engine on the test's database, for the test's own checks."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def esl():
    """A FreeSWITCH event socket simulator on a free loopback port."""
    from tests.esl_simulator import EslSimulator

    # Phones answer after 0.2 s: FreeSWITCH 1.10.12 reported a phone's 202 ~0.5 s after `bgapi chat` (04h).
    simulator = EslSimulator(password="ClueCon", no_answer_delay=0.5, answer_delay=0.2).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def app_env(database_url) -> dict[str, str]:
    """Environment for ``fspbx-sms`` commands on the test's database, with short retry delays."""
    return {
        "FSPBX_SMS_DATABASE_URL": database_url,
        "FSPBX_SMS_SECRET_KEY": "test-secret-key-0123456789abcdefghijklmnop",
        "FSPBX_SMS_JOB_BACKOFF_INITIAL": "0.2",
        "FSPBX_SMS_JOB_BACKOFF_MAX": "1",
        "FSPBX_SMS_JOB_POLL_INTERVAL": "0.2",
        "FSPBX_SMS_SIP_RESULT_TIMEOUT": "5",
        "FSPBX_SMS_LOG_LEVEL": "DEBUG",
    }


@pytest.fixture
def service_env(app_env, esl) -> dict[str, str]:
    """Environment for a ``fspbx-sms`` process on the test's database and the ESL simulator."""
    return {**app_env, "FSPBX_SMS_ESL_HOST": esl.host, "FSPBX_SMS_ESL_PORT": str(esl.port),
            "FSPBX_SMS_ESL_PASSWORD": "ClueCon"}


@pytest.fixture
def service(service_env, tmp_path) -> Iterator[ServiceProcess]:
    """The real service (``fspbx-sms run``) in a subprocess, stopped (and its log checked) after the test."""
    process = ServiceProcess(service_env, workdir=tmp_path)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def telnyx(service, httpserver):
    """A Telnyx account provisioned through the CLI, pointing at a loopback fake of Telnyx's API."""
    from tests.telnyx_account import Telnyx

    return Telnyx(service, httpserver)


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server on loopback for the whole run."""
    from tests.s3_server import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket on the loopback S3 server."""
    return s3_server.bucket()
