"""The ``fspbx-sms`` command line contract that scripts and operators rely on."""

from __future__ import annotations

import sqlite3

import pytest

from tests.service_process import ServiceProcess


@pytest.fixture
def cli(app_env, tmp_path) -> ServiceProcess:
    """The console script with the test's database (no service running)."""
    return ServiceProcess(app_env, workdir=tmp_path)


def test_help_lists_every_command(cli):
    """``--help`` at the top and on every command."""
    top = cli.cli("--help").stdout
    for command in ("run", "db", "carrier", "number", "user"):
        assert command in top
    for args in (["run"], ["db", "upgrade"], ["carrier", "add"], ["number", "add"], ["user", "add"]):
        assert "Usage: fspbx-sms " + " ".join(args) in cli.cli(*args, "--help").stdout


def test_provisioning_prints_json_and_refuses_mistakes_clearly(cli):
    """carrier add → id + webhook URL; a missing credential, a bad number or a duplicate → exit 1 and why."""
    account = cli.cli_json("carrier", "add", "--provider", "telnyx", "--name", "main", "--set", "api_key=k",
                           "--set", "public_key=" + "B" * 43 + "=", "--domain", "pbx.test")
    assert account["webhook_url"].endswith(f"/webhooks/telnyx/{account['id']}")

    missing = cli.cli("carrier", "add", "--provider", "telnyx", "--name", "other", "--set", "api_key=k",
                      check=False)
    assert missing.returncode == 1 and "public_key" in missing.stderr
    unknown = cli.cli("carrier", "add", "--provider", "nope", "--name", "x", check=False)
    assert unknown.returncode == 1 and "nope" in unknown.stderr

    number = cli.cli_json("number", "add", "(555) 000-1001", "--carrier", "main", "--extension", "1001@pbx.test")
    assert (number["number"], number["purpose"]) == ("+15550001001", "user")
    system = cli.cli_json("number", "add", "+1 555 000 1999", "--carrier", "main", "--system")
    assert system["purpose"] == "system_notification"
    for args, reason in [
        (["number", "add", "+15550001001", "--carrier", "main"], "already configured"),
        (["number", "add", "not-a-number", "--carrier", "main", "--extension", "1001@pbx.test"], "phone number"),
        (["number", "add", "+15550001002", "--carrier", "missing", "--extension", "1001@pbx.test"], "missing"),
    ]:
        failed = cli.cli(*args, check=False)
        assert failed.returncode == 1 and reason in failed.stderr, failed.stderr

    admin = cli.cli_json("user", "add", "alice", "--role", "admin", "--domain", "pbx.test",
                         input="correct horse battery\n")
    assert admin["role"] == "admin"
    short = cli.cli("user", "add", "bob", "--role", "superadmin", input="short\n", check=False)
    assert short.returncode == 1 and "8 characters" in short.stderr


def test_credentials_are_encrypted_at_rest(cli, database_url):
    """The API key is nowhere in the database file in clear text."""
    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file's bytes")
    cli.cli("carrier", "add", "--provider", "telnyx", "--name", "main", "--set", "api_key=KEY-very-secret",
            "--set", "public_key=" + "B" * 43 + "=")
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        dump = "\n".join(connection.iterdump())
    assert "KEY-very-secret" not in dump
    assert "carrier_accounts" in dump


def test_run_on_defaults_in_an_empty_directory(tmp_path):
    """No settings at all: SQLite file and key file appear, /healthz answers, ESL keeps retrying (no FreeSWITCH)."""
    service = ServiceProcess({}, workdir=tmp_path)
    service.start()
    try:
        health = service.health()
        assert health["database"] == "ok"
        assert health["esl"][0]["state"] in {"connecting", "disconnected"}
        assert health["esl_connected"] is False
    finally:
        service.stop()
    assert (tmp_path / "fspbx-sms.sqlite3").exists()
    assert oct((tmp_path / "fspbx-sms.secret").stat().st_mode & 0o777) == "0o600"


def test_a_bad_setting_stops_run_with_its_name(tmp_path):
    """A bad value fails at start, naming the variable, before anything listens."""
    service = ServiceProcess({"FSPBX_SMS_HTTP_PORT": "eighty"}, workdir=tmp_path)
    failed = service.cli("run", check=False)
    assert failed.returncode == 1
    assert "FSPBX_SMS_HTTP_PORT" in failed.stderr
