"""HSTS: no includeSubDomains or preload unless the settings say so."""

from __future__ import annotations

from tests.test_settings import run_manage

PRINT_HSTS = (
    "from django.conf import settings as s; "
    "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
)


def test_hsts_has_no_subdomains_or_preload_by_default():
    result = run_manage("shell", "-c", PRINT_HSTS, HTTPS="true", DEBUG="false")
    assert result.stdout.strip().splitlines()[-1].split() == ["31536000", "False", "False"], (
        result.stderr
    )


def test_settings_turn_them_on():
    result = run_manage(
        "shell",
        "-c",
        PRINT_HSTS,
        HTTPS="true",
        DEBUG="false",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    )
    assert result.stdout.strip().splitlines()[-1].split() == ["31536000", "True", "True"], (
        result.stderr
    )
