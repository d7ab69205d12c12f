"""Settings: defaults that work with no setup, FSPBX_SMS_* overrides, and errors that name the setting."""

from __future__ import annotations

import pytest

from fspbx_sms.config import ConfigError, EslNode, load_settings


def test_defaults_need_no_setup():
    """No environment at all: SQLite in the working directory, HTTP on 8080, FreeSWITCH's stock ESL."""
    settings = load_settings({})
    assert settings.database_url == "sqlite:///fspbx-sms.sqlite3"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.nodes() == [EslNode("fs1", "127.0.0.1", 8021, "ClueCon")]
    assert settings.base_url == "http://127.0.0.1:8080"


def test_environment_overrides_with_types():
    """Numbers, booleans and strings are converted; the public URL loses its trailing slash."""
    settings = load_settings({
        "FSPBX_SMS_HTTP_PORT": "9090",
        "FSPBX_SMS_RUN_ESL": "false",
        "FSPBX_SMS_JOB_LEASE_SECONDS": "30.5",
        "FSPBX_SMS_PUBLIC_URL": "https://sms.example.com/",
        "FSPBX_SMS_ESL_NODES": "fs2=10.0.0.2:8021:secret, fs3=10.0.0.3:8022",
    })
    assert settings.http_port == 9090
    assert settings.run_esl is False
    assert settings.job_lease_seconds == 30.5
    assert settings.base_url == "https://sms.example.com"
    assert [n.name for n in settings.nodes()] == ["fs1", "fs2", "fs3"]
    assert settings.nodes()[2].password == "ClueCon"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("FSPBX_SMS_HTTP_PORT", "eighty", "FSPBX_SMS_HTTP_PORT"),
        ("FSPBX_SMS_HTTP_PORT", "70000", "FSPBX_SMS_HTTP_PORT"),
        ("FSPBX_SMS_RUN_ESL", "maybe", "FSPBX_SMS_RUN_ESL"),
        ("FSPBX_SMS_WORKERS", "0", "FSPBX_SMS_WORKERS"),
        ("FSPBX_SMS_DATABASE_URL", "mysql://x/y", "FSPBX_SMS_DATABASE_URL"),
        ("FSPBX_SMS_ESL_NODES", "fs2=nohostport", "FSPBX_SMS_ESL_NODES"),
        ("FSPBX_SMS_DEFAULT_REGION", "USA", "FSPBX_SMS_DEFAULT_REGION"),
        ("FSPBX_SMS_LOG_LEVEL", "LOUD", "FSPBX_SMS_LOG_LEVEL"),
        ("FSPBX_SMS_MEDIA_STORAGE", "ftp", "FSPBX_SMS_MEDIA_STORAGE"),
        ("FSPBX_SMS_MEDIA_STORAGE", "s3", "FSPBX_SMS_S3_BUCKET"),
        ("FSPBX_SMS_S3_ADDRESSING_STYLE", "sideways", "FSPBX_SMS_S3_ADDRESSING_STYLE"),
    ],
)
def test_a_bad_value_names_the_setting(variable, value, named):
    """The error message starts with the variable to fix."""
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(named + ":")


def test_secrets_stay_out_of_the_settings_repr():
    """Passwords and keys are never printed with the settings (a log line or a traceback may show them)."""
    settings = load_settings({
        "FSPBX_SMS_ESL_PASSWORD": "esl-pass-4711", "FSPBX_SMS_SECRET_KEY": "master-key-4711",
        "FSPBX_SMS_SMTP_PASSWORD": "smtp-pass-4711", "FSPBX_SMS_S3_SECRET_KEY": "s3-secret-4711",
    })
    assert "4711" not in repr(settings)
    assert settings.s3_secret_key == "s3-secret-4711"
