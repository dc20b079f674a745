"""Typed reads of the environment.

Every setting crmflow reads from the environment goes through one of these
functions, so that a malformed value stops the process at start-up with a
message that names the variable and says what a good value looks like, instead
of failing later in a request or a worker.
"""

from __future__ import annotations

import ipaddress
import zoneinfo
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = env.str(name, default=None)
    return value.strip() if value is not None else None


def env_bool(name: str, *, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean. Use one of: true, false, 1, 0, yes, no, on, off."
    )


def env_str(name: str, *, default: str | None = None, required_hint: str = "") -> str:
    value = _raw(name)
    if value:
        return value
    if default is not None:
        return default
    raise ImproperlyConfigured(f"{name} is not set. {required_hint}".strip())


def env_int(name: str, *, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    value = _raw(name)
    if not value:
        return default
    wanted = f"between {minimum} and {maximum}" if maximum is not None else f"{minimum} or more"
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number {wanted}.")
    return number


def env_choice(name: str, *, choices: tuple[str, ...], default: str) -> str:
    value = (_raw(name) or default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def env_list(name: str, *, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated CIDRs (a bare address is a /32 or /128); empty by default."""
    networks = []
    for item in env_list(name, default=[]):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an address or a network. "
                "Use CIDRs separated by commas, e.g. 127.0.0.1/32,10.0.0.0/8."
            ) from exc
    return networks


def env_database(name: str, *, default: str) -> dict:
    value = _raw(name) or default
    try:
        config = environ.Env.db_url_config(value)
    except (ImproperlyConfigured, ValueError, KeyError) as exc:
        raise ImproperlyConfigured(
            f"{name}={_redact(value)!r} is not a database URL crmflow understands ({exc}). "
            "Use postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:////absolute/path.sqlite3."
        ) from exc
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured(
            f"{name} uses {engine or 'an unknown engine'}; crmflow supports PostgreSQL "
            "(postgres://...) and SQLite (sqlite:///...)."
        )
    return config


def env_url(name: str, *, schemes: set[str], default: str | None = None) -> str | None:
    value = _raw(name) or default
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ImproperlyConfigured(
            f"{name}={_redact(value)!r} is not a valid URL. "
            f"It must start with one of: {', '.join(sorted(s + '://' for s in schemes))}."
        )
    return value


def env_email(name: str, *, default: str) -> dict:
    value = _raw(name) or default
    try:
        config = environ.Env.email_url_config(value)
    except (ImproperlyConfigured, ValueError, KeyError) as exc:
        raise ImproperlyConfigured(
            f"{name}={_redact(value)!r} is not an email URL ({exc}). "
            "Use consolemail://, filemail:///path/to/dir, or smtp+tls://user:password@host:587."
        ) from exc
    if not config.get("EMAIL_BACKEND"):
        raise ImproperlyConfigured(f"{name}={_redact(value)!r} names no email backend.")
    return config


def env_time_zone(name: str, *, default: str) -> str:
    value = _raw(name) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a time zone. Use an IANA name such as UTC or Europe/Paris."
        ) from exc
    return value


def env_fernet_keys(name: str, *, required_hint: str) -> list[str]:
    """Comma-separated Fernet keys, newest first (the first one encrypts)."""
    keys = env_list(name, default=[])
    if not keys:
        raise ImproperlyConfigured(f"{name} is not set. {required_hint}")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"{name}: key #{position} is not a valid Fernet key (32 url-safe base64-encoded "
                'bytes). Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from exc
    return keys


def _redact(url: str) -> str:
    """Hide a password in a URL before it goes into an error message."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
