"""The record list query: search, filters, sort by any property, keyset pagination.

Pages are fetched by keyset (seek) rather than OFFSET, so the last page of 100k
records costs the same as the first (docs/crm-storage.md explains the plan).

The list order is defined as two segments:
  A. records that have a value for the sort property, in (value, id) order —
     read straight off the `PropertyValue` composite index (property, column, record);
  B. records without a value, in id order ("no value" always sorts last).
Sorting by "created" (id) or "name" (Record.name) has only segment A.

A cursor names the last (or first) row shown: ("a", value, id) or ("b", id). "Next"
seeks forward from it; "previous" and "last" seek backward in the reversed order and
flip the page. Every page costs one query for the records (owners joined) plus the
total count.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from crm import filters
from crm.models import PropertyDefinition, PropertyType, PropertyValue, Record

PAGE_SIZES = (25, 50, 100)
# Counting is the one O(n) step of a page: past this many matches the list says
# "10,000+ records" instead of scanning every match (as large CRMs do).
COUNT_LIMIT = 10_000
MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True)
class Sort:
    key: str  # "created", "name" or a property name
    descending: bool
    definition: PropertyDefinition | None = None

    @property
    def column(self) -> str:
        if self.definition is None:
            return "name" if self.key == "name" else "id"
        kind = self.definition.type
        if kind in (PropertyType.NUMBER, PropertyType.OWNER):
            return "number_value"
        if kind in (PropertyType.DATE, PropertyType.DATETIME):
            return "datetime_value"
        return "text_value"

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.key


def parse_sort(definitions: dict[str, PropertyDefinition], raw: str | None) -> Sort:
    """Unknown sort keys fall back to newest first (never an error page)."""
    raw = (raw or "")[:120]
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key == "name":
        return Sort("name", descending)
    if key in definitions:
        return Sort(key, descending, definitions[key])
    if key == "created":
        return Sort("created", descending)
    return Sort("created", True)


def parse_filters(definitions: dict[str, PropertyDefinition], raw: str | None) -> tuple[list, list]:
    """(raw JSON groups, parsed groups); raise ValidationError with a readable message."""
    if not raw:
        return [], []
    if len(raw) > 20_000:
        raise ValidationError(_("The filters are too long."))
    try:
        groups = without_nul(json.loads(raw))
    except (ValueError, RecursionError):
        raise ValidationError(_("The filters in this link are not valid.")) from None
    return groups, filters.parse_groups(definitions, groups)


def without_nul(value):
    """User input minus NUL characters, which PostgreSQL refuses in any text."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: without_nul(item) for key, item in value.items()}
    return value


def encode_cursor(cursor: tuple) -> str:
    value = cursor[1] if cursor[0] == "a" else None
    if isinstance(value, dt.datetime):
        value = {"dt": value.isoformat()}
    payload = json.dumps([cursor[0], value, cursor[-1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, sort: Sort) -> tuple | None:
    """A cursor from the query string, or None when absent or malformed."""
    if not raw or len(raw) > 1_000:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        segment, value, pk = payload
        if segment not in ("a", "b") or not isinstance(pk, int) or isinstance(pk, bool):
            return None
        if segment == "b":
            return ("b", pk)
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["dt"])
        if isinstance(value, str):
            value = without_nul(value)
        column = sort.column
        if column in ("number_value",) and not isinstance(value, (int, float)):
            return None
        if column in ("text_value", "name") and not isinstance(value, str):
            return None
        if column == "datetime_value" and not isinstance(value, dt.datetime):
            return None
        if column == "id":
            value = pk
        return ("a", value, pk)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        return None


@dataclass
class Page:
    records: list[Record]
    total: int
    total_is_capped: bool
    first_cursor: str | None
    last_cursor: str | None
    has_next: bool
    has_previous: bool


class RecordListQuery:
    def __init__(self, *, base: QuerySet, sort: Sort, size: int):
        self.base = base
        self.sort = sort
        self.size = size

    # Segment A: ordered by (sort value, id) in `descending` direction.
    def _segment_a(self, descending: bool, bound: tuple | None) -> QuerySet:
        sort = self.sort
        if sort.definition is None:
            qs = self.base.annotate(sort_value=F(sort.column), sort_id=F("id"))
        else:
            # Joining the index row and ordering by its columns lets the database
            # walk the (property, column, record) index in order and stop at the page.
            qs = self.base.filter(values__property=sort.definition).annotate(
                sort_value=F(f"values__{sort.column}"), sort_id=F("values__record_id")
            )
        if bound is not None:
            value, pk = bound[1], bound[2]
            if descending:
                qs = qs.filter(
                    Q(sort_value__lte=value), Q(sort_value__lt=value) | Q(sort_id__lt=pk)
                )
            else:
                qs = qs.filter(
                    Q(sort_value__gte=value), Q(sort_value__gt=value) | Q(sort_id__gt=pk)
                )
        if sort.column == "id":
            return qs.order_by("-sort_id" if descending else "sort_id")
        order = ("-sort_value", "-sort_id") if descending else ("sort_value", "sort_id")
        return qs.order_by(*order)

    def _segment_b(self, descending: bool, bound: tuple | None) -> QuerySet:
        has_value = PropertyValue.objects.filter(
            record=OuterRef("pk"), property=self.sort.definition
        )
        qs = self.base.filter(~Exists(has_value))
        if bound is not None:
            qs = qs.filter(pk__lt=bound[1]) if descending else qs.filter(pk__gt=bound[1])
        return qs.order_by("-id" if descending else "id")

    def _fetch(self, qs: QuerySet, limit: int) -> list[Record]:
        if limit <= 0:
            return []
        return list(qs.select_related("owner")[:limit])

    def _forward(self, bound: tuple | None, limit: int) -> list[tuple[tuple, Record]]:
        """Rows after `bound` in display order."""
        d = self.sort.descending
        rows: list[tuple[tuple, Record]] = []
        if bound is None or bound[0] == "a":
            for record in self._fetch(self._segment_a(d, bound), limit):
                rows.append((("a", record.sort_value, record.pk), record))
            bound = None
        if self.sort.definition is not None and len(rows) < limit:
            for record in self._fetch(self._segment_b(d, bound), limit - len(rows)):
                rows.append((("b", record.pk), record))
        return rows

    def _backward(self, bound: tuple | None, limit: int) -> list[tuple[tuple, Record]]:
        """Rows before `bound` (None: from the very end), returned in display order."""
        d = not self.sort.descending
        rows: list[tuple[tuple, Record]] = []
        in_b = self.sort.definition is not None and (bound is None or bound[0] == "b")
        if in_b:
            for record in self._fetch(self._segment_b(d, bound), limit):
                rows.append((("b", record.pk), record))
            bound = None
        if len(rows) < limit:
            for record in self._fetch(self._segment_a(d, bound), limit - len(rows)):
                rows.append((("a", record.sort_value, record.pk), record))
        rows.reverse()
        return rows

    def page(
        self, *, after: tuple | None = None, before: tuple | None = None, last: bool = False
    ) -> Page:
        total = self.base.order_by()[: COUNT_LIMIT + 1].count()
        if last or before is not None:
            rows = self._backward(before, self.size + 1)
            has_previous = len(rows) > self.size
            rows = rows[-self.size :] if has_previous else rows
            has_next = before is not None
        else:
            rows = self._forward(after, self.size + 1)
            has_next = len(rows) > self.size
            rows = rows[: self.size]
            has_previous = after is not None
        return Page(
            records=[record for _key, record in rows],
            total=min(total, COUNT_LIMIT),
            total_is_capped=total > COUNT_LIMIT,
            first_cursor=encode_cursor(rows[0][0]) if rows else None,
            last_cursor=encode_cursor(rows[-1][0]) if rows else None,
            has_next=has_next,
            has_previous=has_previous,
        )


def search_q(text: str) -> Q:
    text = " ".join(without_nul(text).split())[:MAX_SEARCH_LENGTH]
    if not text:
        return Q()
    return Q(name__icontains=text) | Q(email__icontains=text.lower())
