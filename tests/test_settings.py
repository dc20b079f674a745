"""Settings: a malformed environment stops the process with a message that helps."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config import env as envmod

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def environment(monkeypatch):
    def setenv(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return setenv


def test_a_boolean_that_is_not_one_names_the_variable(environment):
    environment(DEBUG="maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        envmod.env_bool("DEBUG", default=False)


@pytest.mark.parametrize(
    "value,expected", [("true", True), ("0", False), ("On", True), ("no", False)]
)
def test_booleans_accept_the_usual_spellings(environment, value, expected):
    environment(DEBUG=value)
    assert envmod.env_bool("DEBUG", default=not expected) is expected


def test_an_unknown_database_scheme_is_refused_with_the_supported_ones(environment):
    environment(DATABASE_URL="mongodb://localhost/crm")
    with pytest.raises(ImproperlyConfigured, match="postgres://"):
        envmod.env_database("DATABASE_URL", default="sqlite:///x.sqlite3")


def test_a_database_password_is_hidden_in_the_error(environment):
    environment(DATABASE_URL="mysql://root:hunter2@localhost/crm")
    with pytest.raises(ImproperlyConfigured) as error:
        envmod.env_database("DATABASE_URL", default="sqlite:///x.sqlite3")
    assert "hunter2" not in str(error.value)


def test_postgres_urls_are_understood(environment):
    environment(DATABASE_URL="postgres://crm:pw@db.internal:5433/crmflow")
    config = envmod.env_database("DATABASE_URL", default="sqlite:///x.sqlite3")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", 5433, "crmflow")


def test_a_redis_url_without_a_redis_scheme_is_refused(environment):
    environment(REDIS_URL="127.0.0.1:6379")
    with pytest.raises(ImproperlyConfigured, match=r"must start with one of: redis://"):
        envmod.env_url("REDIS_URL", schemes={"redis", "rediss", "unix"})


def test_an_unknown_time_zone_is_refused(environment):
    environment(TIME_ZONE="Mars/Olympus")
    with pytest.raises(ImproperlyConfigured, match="IANA name"):
        envmod.env_time_zone("TIME_ZONE", default="UTC")


def test_a_bad_encryption_key_says_how_to_make_one(environment):
    environment(FIELD_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},not-a-key")
    with pytest.raises(
        ImproperlyConfigured, match=r"key #2 is not a valid Fernet key.*generate_key"
    ):
        envmod.env_fernet_keys("FIELD_ENCRYPTION_KEYS", required_hint="")


def test_a_missing_secret_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set. Run `make run`"):
        envmod.env_str("SECRET_KEY", required_hint="Run `make run` once.")


def test_an_unknown_email_scheme_is_refused(environment):
    environment(EMAIL_URL="pigeon://loft")
    with pytest.raises(ImproperlyConfigured, match="consolemail://"):
        envmod.env_email("EMAIL_URL", default="consolemail://")


def run_manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRMFLOW_ENV_FILE": "", **env_overrides}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests only
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_process_stops_at_start_up_on_a_malformed_value():
    result = run_manage("check", TIME_ZONE="Nowhere/Land")
    assert result.returncode != 0
    assert "TIME_ZONE='Nowhere/Land' is not a time zone" in result.stderr


def test_deploy_checks_are_clean_with_a_production_environment():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        HTTPS="true",
        SECRET_KEY="prod-" + "x7Kq2vN9pL4mR8sT1wY6zB3cF5hJ0dG" * 2,
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
