"""Database ids from user input: a form field, a query string or a URL segment.

Every id is a 64-bit integer in the database, so anything longer than 18 ASCII digits
(or not digits at all: "²".isdigit() is true, yet int("²") fails) is no id. Views answer
404/400 for such input instead of letting the database driver overflow into a 500.
"""

from __future__ import annotations

import re
from typing import Any

MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,18}")


def parse_id(raw: Any) -> int | None:
    """A database id from user input, or None (never an exception)."""
    text = str(raw or "").strip()
    if not _ID.fullmatch(text):
        return None
    return int(text)


class IdConverter:
    """The `<id:pk>` URL converter: `<int:…>` accepts any number of digits, and a
    number beyond 64 bits reaches the database; this one matches only ids, so longer
    numbers are a 404 (tests/security/test_bad_input.py checks that no URL uses `int`)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("beyond 64 bits")  # no match: a 404
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)
