"""Signatures on outbound requests, as Stripe makes them.

`X-Crmflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with
the account's signing secret (the whole `whsec_…` string, as UTF-8). The body is the
exact bytes sent (empty for a request without one). A receiver recomputes the HMAC over
the raw body it read, compares in constant time, and refuses an old `t` (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from django.views.decorators.debug import sensitive_variables

SIGNATURE_HEADER = "X-Crmflow-Signature"
DELIVERY_HEADER = "X-Crmflow-Delivery"
SECRET_PREFIX = "whsec_"
# What a receiver should accept between `t` and its own clock (docs/webhooks.md).
TOLERANCE_SECONDS = 300


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@sensitive_variables("secret")
def secret_masked(secret: str) -> str:
    """`whsec_…abcd`: enough to recognise the secret, useless to anyone else."""
    return f"{SECRET_PREFIX}…{secret[-4:]}"


@sensitive_variables("secret")
def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@sensitive_variables("secret")
def signature_verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (the docs' example is this, in ten lines)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    expected = signature_header(secret, body, timestamp=int(parts["t"]))
    fresh = abs((time.time() if now is None else now) - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, f"t={parts['t']},v1={parts['v1']}")
