"""Secrets at rest (API keys): MultiFernet over settings.FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a new key can be put in front and
`manage.py rotate_app_secrets` re-encrypts what is stored. Only the masked form and a
fingerprint are ever shown; nothing in this module logs or raises with a plaintext.
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

__all__ = [
    "InvalidToken",
    "secret_decrypt",
    "secret_encrypt",
    "secret_fingerprint",
    "secret_mask",
    "secret_rotate",
]


def _fernet() -> MultiFernet:
    # Read at call time, never at import: tests and rotation change the setting.
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


@sensitive_variables("plaintext")
def secret_encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def secret_decrypt(token: str) -> str:
    """Raises InvalidToken when no configured key can read `token`."""
    return _fernet().decrypt(token.encode("ascii")).decode()


def secret_rotate(token: str) -> str:
    """The same secret re-encrypted with the newest key."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


@sensitive_variables("plaintext")
def secret_mask(plaintext: str) -> str:
    """`sk-…abcd`: enough for a person to recognise the key, useless to anyone else."""
    prefix = "sk-" if plaintext.startswith("sk-") else ""
    return f"{prefix}…{plaintext[-4:]}" if len(plaintext) > 8 else "…"


@sensitive_variables("plaintext")
def secret_fingerprint(plaintext: str) -> str:
    """First 12 hex characters of the SHA-256: compares two keys without showing either."""
    return hashlib.sha256(plaintext.encode()).hexdigest()[:12]
