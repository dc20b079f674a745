"""The public forms' optional anti-spam puzzle: a self-hosted proof of work (hashcash),
no outside service.

The page carries a signed challenge; the visitor's browser (static/js/proof_of_work.js)
finds a counter such that SHA-256("<challenge>:<counter>") starts with `bits` zero bits,
about 2**bits hashes of work. The server checks that the challenge is ours, for this
form, fresh (an hour), solved, and used for one accepted submission only (the cache
remembers it while it is fresh: production's cache is Redis, shared by every process).
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils.translation import gettext as _

SALT = "crm.proof_of_work"
MAX_AGE_SECONDS = 60 * 60
CHALLENGE_FIELD = "pow_challenge"
COUNTER_FIELD = "pow_counter"


def challenge_issue(*, form_id: int) -> dict[str, object]:
    """A new challenge for the page of form `form_id`: its text and its difficulty."""
    bits = settings.PUBLIC_FORM_PROOF_OF_WORK_BITS
    text = signing.dumps({"f": form_id, "n": secrets.token_urlsafe(12), "b": bits}, salt=SALT)
    return {"challenge": text, "bits": bits}


def leading_zero_bits(text: str) -> int:
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    return 256 - digest.bit_length()


def solution_check(*, form_id: int, challenge: str, counter: str) -> str | None:
    """None when `counter` solves `challenge` for this form; otherwise what to tell the
    visitor. A solution is spent by this check: it cannot be sent twice."""
    try:
        data = signing.loads(challenge, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        return _("The anti-spam check expired. Submit the form again.")
    except signing.BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("f") != form_id:
        return _(
            "The anti-spam check did not run: this form needs JavaScript. Turn it on, then "
            "submit the form again."
        )
    if not (counter.isdigit() and len(counter) <= 20) or leading_zero_bits(
        f"{challenge}:{counter}"
    ) < int(data.get("b", 0)):
        return _("The anti-spam check did not finish. Submit the form again and wait a moment.")
    if not cache.add(f"intake:pow:{data['n']}", 1, timeout=MAX_AGE_SECONDS):
        return _("This form was already sent. Reload the page to send it again.")
    return None
