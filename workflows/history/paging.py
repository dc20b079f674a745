"""Keyset pagination, newest first: "the rows older than this one", never OFFSET, so a
workflow with millions of executions reads one index range whatever the page.

The order is (time, id) descending, on (created_at, id) for executions and
(enrolled_at, id) for enrollments, backed by the indexes `execution_history`,
`execution_history_status` and `enrollment_history`. The cursor is
`<microseconds>-<id>` of the last row shown; there is no page count (counting a million
rows is what we avoid).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet

PAGE_SIZE = 25

M = TypeVar("M", bound=Model)
R = TypeVar("R")
T = TypeVar("T")


def cursor_of(moment: dt.datetime, pk: int) -> str:
    return f"{int(moment.timestamp() * 1_000_000)}-{pk}"


def cursor_parse(value: str | None) -> tuple[dt.datetime, int] | None:
    """(time, id) of a cursor; None for no cursor or one that does not parse (the first
    page, never an error)."""
    try:
        micros, pk = (value or "").split("-", 1)
        return dt.datetime.fromtimestamp(int(micros) / 1_000_000, tz=dt.UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def keyset(queryset: QuerySet[M], cursor: str | None, *, time_field: str) -> QuerySet[M]:
    """Rows strictly after `cursor` in (time, id) descending order. Written as `time <= c
    AND (time < c OR id < i)` so the (…, time, id) index bounds the scan."""
    queryset = queryset.order_by(f"-{time_field}", "-id")
    position = cursor_parse(cursor)
    if position is None:
        return queryset
    at, pk = position
    return queryset.filter(**{f"{time_field}__lte": at}).filter(
        Q(**{f"{time_field}__lt": at}) | Q(pk__lt=pk)
    )


@dataclass
class Page(Generic[R]):
    rows: list[R]
    next_cursor: str | None  # None on the last page

    def map(self, row: Callable[[R], T]) -> Page[T]:
        return Page([row(found) for found in self.rows], self.next_cursor)


def page_of(
    queryset: QuerySet[M], cursor: str | None, *, time_field: str, size: int = PAGE_SIZE
) -> Page[M]:
    """The `size` rows after `cursor`, in one query (`size + 1` rows tell whether there is
    a next page)."""
    found = list(keyset(queryset, cursor, time_field=time_field)[: size + 1])
    rows = found[:size]
    last = rows[-1] if len(found) > size else None
    next_cursor = cursor_of(getattr(last, time_field), last.pk) if last else None
    return Page(rows, next_cursor)
