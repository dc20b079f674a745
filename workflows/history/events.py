"""How one ledger row reads on the history pages: its event (a css state and a label),
its step's label, its time, and the link to its run.

Events are derived from the ledger row (one row per step of one enrollment):
succeeded / failed / skipped / cancelled / running from `status`; "retried" is a row
that needed more than one attempt, or is pending again with the last attempt's error;
"waiting for rate limit" is a pending row that was claimed once (`started_at` set) and
handed back without an error (the engine's `execution_postpone`). The row's `attempts`
(one entry per failed, retried or postponed attempt, written by the engine) tell a
pending row's label apart exactly — retrying, waiting for the rate limit, or queued again
by a replay — and are listed in the run detail. The event *filters* stay on indexed
columns (a JSON search over millions of rows would not be), so a replayed row not yet
picked up matches "waiting for rate limit" for the few seconds until a worker claims it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from workflows import registry
from workflows.models import ActionExecution

Status = ActionExecution.Status


class Event:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"
    RATE_LIMITED = "rate_limited"
    SKIPPED = "skipped"
    CHOICES = [
        (SUCCEEDED, gettext_lazy("Succeeded")),
        (FAILED, gettext_lazy("Failed")),
        (RETRIED, gettext_lazy("Retried")),
        (RATE_LIMITED, gettext_lazy("Waiting for rate limit or budget")),
        (SKIPPED, gettext_lazy("Skipped")),
    ]


# The Event filter of the Action logs: indexed columns only (see the module docstring).
EVENT_FILTERS: dict[str, Q] = {
    Event.SUCCEEDED: Q(status=Status.SUCCEEDED),
    Event.FAILED: Q(status=Status.FAILED),
    Event.SKIPPED: Q(status=Status.SKIPPED),
    Event.RETRIED: Q(attempt__gt=1) | (Q(status=Status.PENDING, attempt__gte=1) & ~Q(error="")),
    Event.RATE_LIMITED: Q(status=Status.PENDING, started_at__isnull=False, error=""),
}


def _last_attempt(execution: ActionExecution) -> dict[str, Any]:
    """The attempt that handed the row back, if it still tells the row's state: a
    postponed attempt does not count (`attempt` is one less), a retried one does."""
    attempts = execution.attempts or []
    last = attempts[-1] if attempts and isinstance(attempts[-1], dict) else {}
    kind, number = last.get("kind"), last.get("n")
    if (
        (kind in ("rate_limited", "busy", "handed_back") and execution.attempt == (number or 0) - 1)
        or (kind in ("retry", "rate_limit") and execution.attempt == number)
        or (kind == "failed" and execution.attempt == 0)
    ):
        return last
    return {}


def event_of(execution: ActionExecution) -> tuple[str, str]:
    """(css state, label) of one ledger row, for the Event column."""
    status = execution.status
    if status == Status.SUCCEEDED:
        if execution.attempt > 1:
            return "ok", _("Succeeded after %(n)d attempts") % {"n": execution.attempt}
        if any(
            isinstance(a, dict) and a.get("kind") == "rate_limited"
            for a in execution.attempts or []
        ):
            return "ok", _("Succeeded after waiting for rate limit")
        if any(isinstance(a, dict) and a.get("kind") == "busy" for a in execution.attempts or []):
            return "ok", _("Succeeded after waiting for budget")
        return "ok", _("Succeeded")
    if status == Status.FAILED:
        return "failed", _("Failed")
    if status == Status.PENDING:
        kind = _last_attempt(execution).get("kind")
        if kind in ("rate_limited", "rate_limit"):
            return "warning", _("Waiting for rate limit")
        if kind == "busy":
            return "warning", _("Waiting for budget")
        if kind == "failed":  # replayed, not yet picked up
            return "off", _("Waiting")
        if execution.error and execution.attempt >= 1:
            return "warning", _("Retrying (attempt %(n)d failed)") % {"n": execution.attempt}
        if execution.started_at is not None:
            return "warning", _("Waiting for rate limit")
        return "off", _("Waiting")
    if status == Status.RUNNING:
        return "running", _("Running")
    if status == Status.WAITING:  # paused without a worker, e.g. for a person's decision
        return "running", _("Waiting")
    if status == Status.SKIPPED:
        return "off", _("Skipped")
    return "off", _("Cancelled")


def action_label(key: str) -> str:
    """The action type's label; its key when the action is no longer installed."""
    try:
        return str(registry.get(key).label)
    except ValidationError:
        return key


def step_label(execution: ActionExecution) -> str:
    """ "2. Set property value": the step's id in the graph, then its action."""
    return f"{execution.step_id}. {action_label(execution.action_type)}"


def time_text(moment: dt.datetime) -> str:
    """Local time: the day in the locale's date format (config/formats/), then
    HH:MM:SS. The day's text is cached per language (the `date` filter costs ~1 ms a
    call, which shows on a page of rows); the time is a strftime."""
    local = timezone.localtime(moment)
    return f"{_day_text(local.date(), get_language())} {local:%H:%M:%S}"


@functools.lru_cache(maxsize=512)
def _day_text(day: dt.date, language: str | None) -> str:
    return formats.date_format(day, "DATE_FORMAT")


_PLACEHOLDER = 987654321987


def run_url_parts() -> tuple[str, str, str]:
    """The run detail URL cut around its workflow and enrollment ids: (head, middle,
    tail), for SQL that writes URLs (the engine's timeline entries)."""
    url = reverse("history:run", args=[_PLACEHOLDER, _PLACEHOLDER + 1])
    head, _sep, rest = url.partition(str(_PLACEHOLDER))
    middle, _sep, tail = rest.partition(str(_PLACEHOLDER + 1))
    return head, middle, tail


def run_urls(workflow_id: int) -> Callable[[int], str]:
    """The run detail URL of each enrollment of one workflow, reversed once (a page lists
    25 runs, an engine batch writes hundreds of timeline entries)."""
    head, _sep, tail = reverse("history:run", args=[workflow_id, _PLACEHOLDER]).partition(
        str(_PLACEHOLDER)
    )
    return lambda enrollment_id: f"{head}{enrollment_id}{tail}"
