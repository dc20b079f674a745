"""Bounded in-memory log of every request, read by tests through /_sim/requests.

Appending a tuple is the only work done on the hot path; dicts are built on read.
Keys are recorded by name (and masked), never in full.
"""

from __future__ import annotations

from collections import deque

FIELDS = (
    "time",
    "method",
    "path",
    "key",
    "key_masked",
    "model",
    "tokens",
    "status",
    "duration_ms",
    "fault",
    "body",  # the parsed JSON body of a POST when the config's log_bodies is on, else None
)


class RequestLog:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: deque[tuple] = deque(maxlen=max_entries)

    def append(self, entry: tuple) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def query(
        self,
        *,
        key: str | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
        status: int | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        rows = []
        for entry in list(self._entries):
            row = dict(zip(FIELDS, entry, strict=True))
            row["duration_ms"] = round(row["duration_ms"], 3)
            if key is not None and row["key"] != key:
                continue
            if path_prefix is not None and not row["path"].startswith(path_prefix):
                continue
            if method is not None and row["method"] != method.upper():
                continue
            if status is not None and row["status"] != status:
                continue
            if since is not None and row["time"] < since:
                continue
            rows.append(row)
        return rows[-limit:] if limit else rows
