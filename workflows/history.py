"""Reading the ledger for people: action logs, enrollment history, run details, live
counts and replays. Read-only except `runs_replay`, which calls the engine's replay.

Pagination is keyset ("the rows older than this one"), never OFFSET: the Action logs of
a workflow with millions of executions read one index range, whatever the page. The
ordering is (created_at, id) descending, backed by the indexes of migration
0002_history_indexes.

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
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Record, User
from workflows import registry
from workflows.models import ActionExecution, Enrollment, Workflow

Status = ActionExecution.Status
PAGE_SIZE = 25
# Record search looks at most this many matching records (name or email).
SEARCH_LIMIT = 500
SEARCH_MAX_LENGTH = 200
# Above every character: `prefix <= value < prefix + TOP` is "value starts with prefix".
TOP = chr(0x10FFFF)


class Event:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"
    RATE_LIMITED = "rate_limited"
    SKIPPED = "skipped"
    CHOICES = [
        (SUCCEEDED, _("Succeeded")),
        (FAILED, _("Failed")),
        (RETRIED, _("Retried")),
        (RATE_LIMITED, _("Waiting for rate limit")),
        (SKIPPED, _("Skipped")),
    ]


EVENT_FILTERS: dict[str, Q] = {
    Event.SUCCEEDED: Q(status=Status.SUCCEEDED),
    Event.FAILED: Q(status=Status.FAILED),
    Event.SKIPPED: Q(status=Status.SKIPPED),
    Event.RETRIED: Q(attempt__gt=1) | (Q(status=Status.PENDING, attempt__gte=1) & ~Q(error="")),
    Event.RATE_LIMITED: Q(status=Status.PENDING, started_at__isnull=False, error=""),
}


def _last_attempt(execution: ActionExecution) -> dict:
    """The attempt that handed the row back, if it still tells the row's state: a
    postponed attempt does not count (`attempt` is one less), a retried one does."""
    attempts = execution.attempts or []
    last = attempts[-1] if attempts and isinstance(attempts[-1], dict) else {}
    kind, number = last.get("kind"), last.get("n")
    if (
        (kind == "rate_limited" and execution.attempt == (number or 0) - 1)
        or (kind == "retry" and execution.attempt == number)
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
        return "ok", _("Succeeded")
    if status == Status.FAILED:
        return "failed", _("Failed")
    if status == Status.PENDING:
        kind = _last_attempt(execution).get("kind")
        if kind == "rate_limited":
            return "warning", _("Waiting for rate limit")
        if kind == "failed":  # replayed, not yet picked up
            return "off", _("Waiting")
        if execution.error and execution.attempt >= 1:
            return "warning", _("Retrying (attempt %(n)d failed)") % {"n": execution.attempt}
        if execution.started_at is not None:
            return "warning", _("Waiting for rate limit")
        return "off", _("Waiting")
    if status == Status.RUNNING:
        return "running", _("Running")
    if status == Status.SKIPPED:
        return "off", _("Skipped")
    return "off", _("Cancelled")


def time_text(moment: dt.datetime) -> str:
    """Local time as YYYY-MM-DD HH:MM:SS (strftime: the `date` filter costs ~1 ms a call,
    which shows on a page of rows)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def action_label(key: str) -> str:
    try:
        return str(registry.get(key).label)
    except ValidationError:
        return key


# --- Who sees what -----------------------------------------------------------------


def sees_all_runs(user: User) -> bool:
    """Builders and admins see every run of the account; sales reps only the runs of
    records they own (prompts and responses hold other people's customer data)."""
    return user.can_edit_workflows


def workflow_for(user: User, workflow_id: int) -> Workflow:
    from django.http import Http404

    workflow = (
        Workflow.objects.select_related("live_version")
        .filter(account_id=user.account_id, pk=workflow_id)
        .first()
    )
    if workflow is None:
        raise Http404
    return workflow


def enrollments_visible(user: User, workflow: Workflow) -> QuerySet[Enrollment]:
    enrollments = Enrollment.objects.filter(workflow=workflow)
    if not sees_all_runs(user):
        enrollments = enrollments.filter(record__owner=user)
    return enrollments


def executions_visible(user: User, workflow: Workflow) -> QuerySet[ActionExecution]:
    executions = ActionExecution.objects.filter(workflow=workflow)
    if not sees_all_runs(user):
        executions = executions.filter(enrollment__record__owner=user)
    return executions


# --- Keyset pagination -------------------------------------------------------------


def cursor_of(created_at: dt.datetime, pk: int) -> str:
    return f"{int(created_at.timestamp() * 1_000_000)}-{pk}"


def cursor_parse(value: str | None) -> tuple[dt.datetime, int] | None:
    try:
        micros, pk = (value or "").split("-", 1)
        return dt.datetime.fromtimestamp(int(micros) / 1_000_000, tz=dt.UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def keyset(queryset: QuerySet, cursor: str | None, *, time_field: str) -> QuerySet:
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
class Page:
    rows: list
    next_cursor: str | None


def page_of(
    queryset: QuerySet, cursor: str | None, *, time_field: str, size: int = PAGE_SIZE
) -> Page:
    rows = list(keyset(queryset, cursor, time_field=time_field)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows and more else None
    return Page(rows, cursor_of(getattr(last, time_field), last.pk) if last else None)


# --- Action logs ---------------------------------------------------------------------


@dataclass
class LogFilter:
    since: dt.date | None = None
    until: dt.date | None = None
    action_type: str = ""
    event: str = ""
    q: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, params) -> LogFilter:
        found = cls(
            action_type=params.get("action", "").strip(),
            event=params.get("event", "").strip(),
            q=" ".join(params.get("q", "").replace("\x00", "").split())[:SEARCH_MAX_LENGTH],
        )
        for name in ("since", "until"):
            raw = params.get(name, "").strip()
            if raw:
                try:
                    setattr(found, name, dt.date.fromisoformat(raw))
                except ValueError:
                    found.errors.append(_("Enter dates as YYYY-MM-DD."))
        if found.event and found.event not in EVENT_FILTERS:
            found.event = ""
        return found

    def _day_start(self, day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

    def records(self, workflow: Workflow) -> list[int] | None:
        """Ids of the records `q` finds (at most SEARCH_LIMIT), None without `q`.

        `#123` is a record id. Otherwise records whose email or name *starts with* q (one
        range of the record_email / record_name indexes each; names tried as typed, in
        lower case and capitalised); only when that finds nothing, records containing q
        anywhere in the name or email (a scan of the account's records of this type)."""
        if not self.q:
            return None
        records = Record.objects.filter(
            account_id=workflow.account_id, object_type=workflow.object_type
        ).order_by()
        if self.q.startswith("#") and self.q[1:].isdigit():
            return list(records.filter(pk=int(self.q[1:])).values_list("pk", flat=True))
        starts = Q()
        for column, prefixes in (
            ("email", {self.q.lower()}),
            ("name", {self.q, self.q.lower(), self.q.capitalize(), self.q.title()}),
        ):
            for prefix in prefixes:
                starts |= Q(**{f"{column}__gte": prefix, f"{column}__lt": prefix + TOP})
        found = list(records.filter(starts).values_list("pk", flat=True)[:SEARCH_LIMIT])
        if found:
            return found
        anywhere = Q(name__icontains=self.q) | Q(email__icontains=self.q.lower())
        return list(records.filter(anywhere).values_list("pk", flat=True)[:SEARCH_LIMIT])

    def apply_to_executions(self, executions: QuerySet, workflow: Workflow) -> QuerySet:
        if self.since:
            executions = executions.filter(created_at__gte=self._day_start(self.since))
        if self.until:
            executions = executions.filter(
                created_at__lt=self._day_start(self.until + dt.timedelta(days=1))
            )
        if self.action_type:
            executions = executions.filter(action_type=self.action_type)
        if self.event:
            executions = executions.filter(EVENT_FILTERS[self.event])
        records = self.records(workflow)
        if records is not None:
            enrollment_ids = Enrollment.objects.filter(
                workflow=workflow, record__in=records
            ).values_list("pk", flat=True)
            executions = executions.filter(enrollment_id__in=list(enrollment_ids))
        return executions

    def apply_to_enrollments(self, enrollments: QuerySet, workflow: Workflow) -> QuerySet:
        if self.since:
            enrollments = enrollments.filter(enrolled_at__gte=self._day_start(self.since))
        if self.until:
            enrollments = enrollments.filter(
                enrolled_at__lt=self._day_start(self.until + dt.timedelta(days=1))
            )
        records = self.records(workflow)
        if records is not None:
            enrollments = enrollments.filter(record__in=records)
        return enrollments


@dataclass
class LogRow:
    execution: ActionExecution
    record: Record
    action: str
    state: str
    event: str
    time: dt.datetime
    url: str

    @property
    def time_iso(self) -> str:
        return self.time.isoformat()

    @property
    def time_text(self) -> str:
        return time_text(self.time)


def action_logs(
    *,
    user: User,
    workflow: Workflow,
    filters: LogFilter,
    cursor: str | None = None,
    size: int = PAGE_SIZE,
) -> tuple[list[LogRow], str | None]:
    executions = filters.apply_to_executions(executions_visible(user, workflow), workflow)
    # One query: the page of executions joined to their enrollment's record.
    executions = executions.select_related("enrollment__record").only(
        "id",
        "enrollment_id",
        "step_id",
        "action_type",
        "status",
        "attempt",
        "attempts",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "due_at",
        "enrollment__record_id",
        "enrollment__record__name",
        "enrollment__record__email",
        "enrollment__record__object_type",
    )
    page = page_of(executions, cursor, time_field="created_at", size=size)
    run_url = run_url_maker(workflow)
    rows = []
    for execution in page.rows:
        state, event = event_of(execution)
        rows.append(
            LogRow(
                execution=execution,
                record=execution.enrollment.record,
                action=_step_label(workflow, execution),
                state=state,
                event=event,
                time=execution.finished_at or execution.started_at or execution.created_at,
                url=run_url(execution.enrollment_id),
            )
        )
    return rows, page.next_cursor


def run_url_maker(workflow: Workflow):
    """Run detail URLs for many rows without reversing each one."""
    from django.urls import reverse

    prefix = reverse("history:run", args=[workflow.pk, 1])[: -len("1/")]
    return lambda enrollment_id: f"{prefix}{enrollment_id}/"


def _step_label(workflow: Workflow, execution: ActionExecution) -> str:
    return f"{execution.step_id}. {action_label(execution.action_type)}"


def action_types_of(workflow: Workflow) -> list[tuple[str, str]]:
    """Action types of the workflow's live graph (for the filter), plus the draft's."""
    keys = set()
    for graph in (workflow.graph, workflow.live_version.graph if workflow.live_version else {}):
        keys.update(step.get("type") for step in (graph or {}).get("steps", {}).values())
    keys.discard(None)
    return sorted(((key, action_label(key)) for key in keys), key=lambda pair: pair[1])


# --- Enrollment history --------------------------------------------------------------


@dataclass
class EnrollmentRow:
    enrollment: Enrollment
    record: Record
    where: str
    state: str
    url: str

    @property
    def time_iso(self) -> str:
        return self.enrollment.enrolled_at.isoformat()

    @property
    def time_text(self) -> str:
        return time_text(self.enrollment.enrolled_at)


def enrollment_history(
    *,
    user: User,
    workflow: Workflow,
    filters: LogFilter,
    cursor: str | None = None,
    size: int = PAGE_SIZE,
) -> tuple[list[EnrollmentRow], str | None]:
    enrollments = filters.apply_to_enrollments(enrollments_visible(user, workflow), workflow)
    enrollments = enrollments.select_related("record").only(
        "id",
        "workflow_id",
        "record_id",
        "status",
        "enrolled_at",
        "finished_at",
        "record__name",
        "record__email",
        "record__object_type",
    )
    page = page_of(enrollments, cursor, time_field="enrolled_at", size=size)
    run_url = run_url_maker(workflow)
    latest: dict[int, ActionExecution] = {}
    ids = [e.pk for e in page.rows]
    for execution in (
        ActionExecution.objects.filter(enrollment_id__in=ids)
        .only(
            "id",
            "enrollment_id",
            "step_id",
            "action_type",
            "status",
            "attempt",
            "attempts",
            "error",
            "started_at",
        )
        .order_by("id")
    ):
        latest[execution.enrollment_id] = execution
    rows = []
    for enrollment in page.rows:
        current = latest.get(enrollment.pk)
        if enrollment.status == Enrollment.Status.ACTIVE and current is not None:
            state, event = event_of(current)
            where = _("%(step)s — %(event)s") % {
                "step": _step_label(workflow, current),
                "event": event,
            }
        elif enrollment.status == Enrollment.Status.FAILED and current is not None:
            state, where = (
                "failed",
                _("Failed at %(step)s") % {"step": _step_label(workflow, current)},
            )
        elif enrollment.status == Enrollment.Status.COMPLETED:
            state, where = "ok", _("Completed")
        else:
            state, where = "off", enrollment.get_status_display()
        rows.append(
            EnrollmentRow(enrollment, enrollment.record, where, state, run_url(enrollment.pk))
        )
    return rows, page.next_cursor


# --- Run detail ----------------------------------------------------------------------


@dataclass
class Value:
    """One input or output for display: its label, its text (JSON for structured
    values), and whether it is long enough to fold into a <details>."""

    label: str
    text: str
    long: bool

    @classmethod
    def of(cls, label: str, text: str) -> Value:
        return cls(label, text, len(text) > 160 or "\n" in text)


def inputs_of(description: registry.StepDescription) -> list[Value]:
    return [Value.of(label, text) for label, text in description.inputs]


def outputs_of(outputs: dict[str, Any], description: registry.StepDescription) -> list[Value]:
    labels = description.output_labels
    return [
        Value.of(labels.get(str(name)) or str(name), registry.value_text(value))
        for name, value in outputs.items()
        if not str(name).startswith("_")
    ]


def unnamed_values(data: Any) -> list[Value]:
    """Stored data that is not a dict of names (never written so, but kept readable)."""
    return [Value.of("—", registry.value_text(data))] if data not in (None, "", [], {}) else []


def step_descriptions(
    executions: list[ActionExecution], configs: list[dict], *, account
) -> list[registry.StepDescription]:
    """How each step is described (labels, names for ids), asking each action type once
    for all its steps of the page (so an action reads what they name in one query)."""
    by_type: dict[str, list[int]] = {}
    for index, execution in enumerate(executions):
        by_type.setdefault(execution.action_type, []).append(index)
    found: list[registry.StepDescription | None] = [None] * len(executions)
    for key, indexes in by_type.items():
        try:
            action_type = registry.get(key)
        except ValidationError:  # an action no longer installed: its raw keys
            action_type = registry.ActionType()
        described = action_type.describe_steps([configs[i] for i in indexes], account=account)
        for index, description in zip(indexes, described, strict=True):
            found[index] = description
    return found


@dataclass
class Attempt:
    """One failed, retried or postponed attempt of a step (ActionExecution.attempts)."""

    number: int
    replay: int
    kind: str
    error: str
    wait_seconds: float | None
    times: int
    at: dt.datetime | None

    LABELS = {
        "retry": _("Failed, retried"),
        "rate_limited": _("Waited for the rate limit"),
        "failed": _("Failed"),
    }

    @property
    def label(self) -> str:
        return str(self.LABELS.get(self.kind, self.kind))

    @property
    def state(self) -> str:
        return "failed" if self.kind == "failed" else "warning"

    @property
    def time_iso(self) -> str:
        return self.at.isoformat() if self.at else ""

    @property
    def time_text(self) -> str:
        return time_text(self.at) if self.at else ""


def attempts_of(execution: ActionExecution) -> list[Attempt]:
    found = []
    for entry in execution.attempts or []:
        if not isinstance(entry, dict):
            continue
        try:
            at = dt.datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            at = None
        wait = entry.get("wait_seconds")
        found.append(
            Attempt(
                number=int(entry.get("n") or 0),
                replay=int(entry.get("replay") or 0),
                kind=str(entry.get("kind") or ""),
                error=str(entry.get("error") or ""),
                wait_seconds=float(wait) if isinstance(wait, int | float) else None,
                times=int(entry.get("times") or 1),
                at=at,
            )
        )
    return found


@dataclass
class StepRun:
    execution: ActionExecution
    label: str
    state: str
    event: str
    inputs: list[Value]
    inputs_resolved: bool
    outputs: list[Value]
    model: str
    tokens: dict[str, int]
    cost: Decimal | None
    duration: dt.timedelta | None
    wait: dt.timedelta | None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def timings(self) -> dict[str, str]:
        execution = self.execution
        return {
            name: timezone.localtime(moment).strftime("%H:%M:%S")
            for name, moment in (
                ("queued", execution.created_at),
                ("started", execution.started_at),
                ("finished", execution.finished_at),
            )
            if moment
        }


def usage_tokens(usage: dict) -> dict[str, int]:
    names = ("input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
    found = {}
    for name in names:
        value = usage.get(name)
        if isinstance(value, int | float):
            found[name] = int(value)
    if found and "total_tokens" not in found:
        found["total_tokens"] = found.get("input_tokens", 0) + found.get("output_tokens", 0)
    return found


def usage_cost(usage: dict) -> Decimal | None:
    """The cost the action recorded (`cost_usd`, or `cost`), if it did."""
    for name in ("cost_usd", "cost"):
        value = usage.get(name)
        if value not in (None, ""):
            try:
                return Decimal(str(value))
            except (InvalidOperation, ValueError):
                return None
    return None


def run_steps(enrollment: Enrollment, *, account) -> list[StepRun]:
    now = timezone.now()
    executions = list(ActionExecution.objects.filter(enrollment=enrollment).order_by("id"))
    configs = [
        execution.inputs or (enrollment.version.step(execution.step_id) or {}).get("config") or {}
        for execution in executions
    ]
    descriptions = step_descriptions(
        executions, [c if isinstance(c, dict) else {} for c in configs], account=account
    )
    steps = []
    for execution, config, description in zip(executions, configs, descriptions, strict=True):
        state, event = event_of(execution)
        duration = None
        if execution.started_at and execution.finished_at:
            duration = execution.finished_at - execution.started_at
        wait = None
        if execution.status == Status.PENDING and execution.due_at > now:
            wait = execution.due_at - now
        outputs = execution.outputs
        steps.append(
            StepRun(
                execution=execution,
                label=f"{execution.step_id}. {action_label(execution.action_type)}",
                state=state,
                event=event,
                inputs=inputs_of(description)
                if isinstance(config, dict)
                else unnamed_values(config),
                inputs_resolved=bool(execution.inputs),
                outputs=outputs_of(outputs, description)
                if isinstance(outputs, dict)
                else unnamed_values(outputs),
                model=str(execution.usage.get("model") or ""),
                tokens=usage_tokens(execution.usage),
                cost=usage_cost(execution.usage),
                duration=duration,
                wait=wait,
                attempts=attempts_of(execution),
            )
        )
    return steps


def enrollment_for(user: User, workflow: Workflow, enrollment_id: int) -> Enrollment:
    from django.http import Http404

    enrollment = (
        enrollments_visible(user, workflow)
        .select_related("record", "version")
        .filter(pk=enrollment_id)
        .first()
    )
    if enrollment is None:
        raise Http404
    return enrollment


# --- Live counts for the canvas ------------------------------------------------------

LIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.SUCCEEDED, Status.FAILED)


def live_counts(workflow: Workflow) -> dict[int, dict[str, int]]:
    """{step id: {"pending", "running", "succeeded", "failed"}} over all the workflow's
    runs. Every open canvas polls this, so: waiting/running/failed (few rows, read
    through the (workflow, status, …) index) are cached 2 s; succeeded — nearly every
    row of a big workflow, a scan — is cached 30 s."""
    active = _grouped_counts(workflow, (Status.PENDING, Status.RUNNING, Status.FAILED), 2)
    done = _grouped_counts(workflow, (Status.SUCCEEDED,), 30)
    counts: dict[int, dict[str, int]] = {}
    for found in (active, done):
        for (step_id, status), n in found.items():
            counts.setdefault(step_id, dict.fromkeys(LIVE_STATUSES, 0))[status] = n
    return counts


def _grouped_counts(workflow: Workflow, statuses: tuple, seconds: int) -> dict:
    key = f"history:live:{workflow.pk}:{','.join(statuses)}"
    found = cache.get(key)
    if found is None:
        rows = (
            ActionExecution.objects.filter(workflow=workflow, status__in=statuses)
            .values_list("step_id", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        found = {(step_id, status): n for step_id, status, n in rows}
        cache.set(key, found, seconds)
    return found


def is_busy(counts: dict[int, dict[str, int]]) -> bool:
    return any(step[Status.PENDING] or step[Status.RUNNING] for step in counts.values())
