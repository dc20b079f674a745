"""Evaluation sets and what an evaluation's answers mean: the records a set holds,
the expected answers and how an answer is checked against them, and the side-by-side
results (pass rate, tokens, cost, latency, failures). Running an evaluation is
evaluation_run.py.

What must stay true:
- A set holds at most MAX_RECORDS records of one object type, picked or read from the
  record list's filters when it is saved (a later change to the list does not change it).
- An expectation is checked the same way wherever it is shown: a structured field's
  value equals the expected value (case and surrounding spaces aside), a text answer
  contains / equals / matches (a regular expression) the expected text. A failed call
  fails every expectation of its record.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import filters, listing
from crm.models import Account, Record
from crm.services import definitions_for
from marketplace.integrations.openai import versions
from marketplace.integrations.openai.models import (
    AssistantVersion,
    Evaluation,
    EvaluationAnswer,
    EvaluationSet,
)
from marketplace.integrations.openai.specs import FieldType, OutputField

MAX_RECORDS = 500
MAX_PATTERN = 200

TEXT_OPS = {
    "contains": gettext_lazy("contains"),
    "equals": gettext_lazy("equals"),
    "matches": gettext_lazy("matches (regular expression)"),
}


# --- Records ------------------------------------------------------------------------


def records_from_filter(account: Account, object_type: str, link: str) -> list[int]:
    """The ids of the first MAX_RECORDS records (newest first) that the record list's
    link `link` shows: its filters and search. Raises ValidationError when it is not a
    link of that list."""
    query = parse_qs(urlsplit(link.strip()).query)
    definitions = definitions_for(account, object_type)
    try:
        _raw, groups = listing.parse_filters(definitions, (query.get("filters") or [""])[0])
    except ValidationError:
        raise ValidationError(
            _("This link has no filters crmflow can read. Copy the link of a filtered record list.")
        ) from None
    records = Record.objects.filter(account=account, object_type=object_type)
    if groups:
        records = records.filter(filters.groups_q(groups))
    search = (query.get("q") or [""])[0].strip()
    if search:
        records = records.filter(listing.search_q(search[: listing.MAX_SEARCH_LENGTH]))
    if not groups and not search:
        raise ValidationError(
            _("This link has no filters. Filter the record list first, then copy its link.")
        )
    return list(records.order_by("-id").values_list("pk", flat=True)[:MAX_RECORDS])


def records_check(account: Account, object_type: str, ids: list[int]) -> list[int]:
    """`ids` kept when they are the account's records of `object_type`, in their order;
    ValidationError when there are none or more than MAX_RECORDS."""
    if len(ids) > MAX_RECORDS:
        raise ValidationError(
            _("A set holds at most %(max)s records; this one has %(n)s. Narrow the filter.")
            % {"max": MAX_RECORDS, "n": len(ids)}
        )
    found = set(
        Record.objects.filter(account=account, object_type=object_type, pk__in=ids).values_list(
            "pk", flat=True
        )
    )
    kept = list(dict.fromkeys(i for i in ids if i in found))
    if not kept:
        raise ValidationError(_("Pick at least one record, or paste a filtered list's link."))
    return kept


def set_records(evaluation_set: EvaluationSet) -> list[Record]:
    """The set's records that still exist, in the set's order."""
    by_id = Record.objects.filter(
        account_id=evaluation_set.account_id, pk__in=evaluation_set.records
    ).in_bulk()
    return [by_id[i] for i in evaluation_set.records if i in by_id]


# --- Expectations ---------------------------------------------------------------------


def expectation_clean(raw: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """One record's expectation as stored (empty parts left out); ValidationError for a
    regular expression that does not compile."""
    clean: dict[str, Any] = {}
    values = {
        name: str(value).strip()
        for name, value in (raw.get("fields") or {}).items()
        if name in fields and str(value).strip()
    }
    if values:
        clean["fields"] = values
    text = str(raw.get("text") or "").strip()
    op = raw.get("text_op") or "contains"
    if text:
        if op not in TEXT_OPS:
            op = "contains"
        if op == "matches":
            if len(text) > MAX_PATTERN:
                raise ValidationError(
                    _("A pattern is at most %(max)s characters.") % {"max": MAX_PATTERN}
                )
            try:
                re.compile(text)
            except re.error as error:
                raise ValidationError(
                    _("“%(pattern)s” is not a valid regular expression (%(error)s).")
                    % {"pattern": text, "error": error}
                ) from None
        clean.update({"text_op": op, "text": text})
    return clean


@dataclass(frozen=True)
class Check:
    label: str  # what was expected, in words
    passed: bool


def _same(got: Any, expected: str) -> bool:
    if isinstance(got, bool):
        got = "true" if got else "false"
    return str("" if got is None else got).strip().casefold() == expected.casefold()


def field_label(labels: dict[str, str], name: str) -> str:
    """A structured field as people read it: its label in the version that answered,
    else its name in words."""
    return labels.get(name) or OutputField(name, FieldType.TEXT).shown_label


def value_shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if value is None:
        return "—"
    return str(value)


def answer_checks(
    expectation: dict[str, Any], answer: EvaluationAnswer, labels: dict[str, str] | None = None
) -> list[Check]:
    """Each expected value of the record, passed or not by `answer`; a field named by
    its label in `labels` (name → label)."""
    ok = answer.status == EvaluationAnswer.Status.OK
    structured = answer.structured or {}
    checks = [
        Check(
            f"{field_label(labels or {}, name)} = {value}",
            ok and _same(structured.get(name), value),
        )
        for name, value in (expectation.get("fields") or {}).items()
    ]
    text = expectation.get("text")
    if text:
        op = expectation.get("text_op", "contains")
        got = answer.text or ""
        if op == "equals":
            passed = got.strip().casefold() == text.casefold()
        elif op == "matches":
            passed = re.search(text, got) is not None
        else:
            passed = text.casefold() in got.casefold()
        checks.append(Check(f"{TEXT_OPS.get(op, op)} “{text}”", ok and passed))
    return checks


# --- Results --------------------------------------------------------------------------


@dataclass
class SideSummary:
    key: str  # "a" or "b"
    version: AssistantVersion
    model: str  # the model it ran ("" before any answer: the version's)
    answered: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    checked: int = 0  # answers of records with an expectation
    passed: int = 0  # … that passed all of them
    tokens: int = 0
    cost: Decimal | None = None
    labels: dict[str, str] = field(default_factory=dict)  # field name → label
    latencies: list[int] = field(default_factory=list)
    failures: list[tuple[Record, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"v{self.version.number} · {self.model}"

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.checked * 100 if self.checked else None

    @property
    def p50(self) -> int | None:
        return _percentile(self.latencies, 50)

    @property
    def p95(self) -> int | None:
        return _percentile(self.latencies, 95)


def _percentile(values: list[int], percent: int) -> int | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return int(statistics.quantiles(values, n=100, method="inclusive")[percent - 1])


@dataclass
class Cell:
    """One side's answer to a record: the answer, its structured fields as (label,
    value) in the version's order, and its checks."""

    answer: EvaluationAnswer | None
    checks: list[Check]
    fields: list[tuple[str, str]]


@dataclass
class ResultRow:
    record: Record
    cells: list[Cell]  # per side


@dataclass
class Results:
    sides: list[SideSummary]
    rows: list[ResultRow]
    total: int
    done: int

    @property
    def percent(self) -> int:
        return int(self.done / self.total * 100) if self.total else 100


def evaluation_sides(evaluation: Evaluation) -> list[tuple[str, AssistantVersion, str]]:
    """(side, version, model override) of each side the evaluation runs."""
    sides = [("a", evaluation.version_a, evaluation.model_a)]
    if evaluation.version_b_id is not None or evaluation.model_b:
        sides.append(("b", evaluation.version_b or evaluation.version_a, evaluation.model_b))
    return sides


def evaluation_results(evaluation: Evaluation, *, rows: bool = True) -> Results:
    """The evaluation's summary per side and, with `rows`, every record's answers."""
    expected = evaluation.evaluation_set.expected or {}
    answers = list(evaluation.answers.select_related("record").order_by("record_id", "side"))
    summaries = {
        key: SideSummary(
            key,
            version,
            model or version.snapshot.get("model", ""),
            labels={f.name: f.shown_label for f in versions.snapshot_fields(version.snapshot)},
        )
        for key, version, model in evaluation_sides(evaluation)
    }
    by_record: dict[int, dict[str, EvaluationAnswer]] = {}
    for answer in answers:
        by_record.setdefault(answer.record_id, {})[answer.side] = answer
        side = summaries.get(answer.side)
        if side is None:
            continue
        status = answer.status
        if status == EvaluationAnswer.Status.PENDING:
            side.pending += 1
            continue
        if status == EvaluationAnswer.Status.SKIPPED:
            side.skipped += 1
            continue
        if status == EvaluationAnswer.Status.FAILED:
            side.failed += 1
            side.failures.append((answer.record, answer.error))
        else:
            side.answered += 1
            side.tokens += answer.tokens
            if answer.cost_usd is not None:
                side.cost = (side.cost or Decimal(0)) + answer.cost_usd
            if answer.latency_ms is not None:
                side.latencies.append(answer.latency_ms)
        checks = answer_checks(expected.get(str(answer.record_id)) or {}, answer, side.labels)
        if checks:
            side.checked += 1
            side.passed += 1 if all(c.passed for c in checks) else 0
    result_rows = []
    if rows:
        order = {pk: i for i, pk in enumerate(evaluation.evaluation_set.records)}
        for record_id in sorted(by_record, key=lambda pk: order.get(pk, len(order))):
            cells: list[Cell] = []
            for key, side in summaries.items():
                cell = by_record[record_id].get(key)
                expectation = expected.get(str(record_id)) or {}
                asked = cell is not None and cell.status != EvaluationAnswer.Status.PENDING
                checks = (
                    answer_checks(expectation, cell, side.labels)
                    if cell is not None and asked
                    else []
                )
                cells.append(Cell(cell, checks, answer_fields(cell, side.labels)))
            first = next(iter(by_record[record_id].values()))
            result_rows.append(ResultRow(first.record, cells))
    finished = sum(1 for a in answers if a.status != EvaluationAnswer.Status.PENDING)
    return Results(list(summaries.values()), result_rows, len(answers), finished)


def answer_fields(answer: EvaluationAnswer | None, labels: dict[str, str]) -> list[tuple[str, str]]:
    """A structured answer's fields as (label, value): the version's fields in its
    order, then any other the answer holds."""
    structured = (answer.structured if answer is not None else None) or {}
    names = [n for n in labels if n in structured]
    names += [n for n in structured if n not in labels]
    return [(field_label(labels, n), value_shown(structured[n])) for n in names]


def answer_shown(answer: EvaluationAnswer | None, labels: dict[str, str] | None = None) -> str:
    """An answer in one line: its structured fields, or its text."""
    if answer is None:
        return ""
    if answer.structured:
        return "; ".join(f"{k}: {v}" for k, v in answer_fields(answer, labels or {}))
    return answer.text


def version_fields(version: AssistantVersion) -> list[str]:
    return [f.name for f in versions.snapshot_fields(version.snapshot)]
