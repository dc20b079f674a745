"""The filters of the history lists, read from the query string: `since`, `until`
(YYYY-MM-DD), `action` (an action type key), `event` (events.EVENT_FILTERS) and `q`
(record search).

Record search (`q`: spaces collapsed, NUL dropped, SEARCH_MAX_LENGTH characters at most)
finds at most SEARCH_LIMIT records of the workflow's object type, then their runs: `#123`
is a record id; otherwise records whose email or name *starts with* q (one range of the
`record_email` / `record_name` index each); only when that finds nothing, records
containing q anywhere in the name or email (a scan of the account's records of that
type, slow on very large accounts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Record
from workflows.history.events import EVENT_FILTERS
from workflows.models import ActionExecution, Enrollment, Workflow

# Record search looks at most this many matching records (name or email).
SEARCH_LIMIT = 500
SEARCH_MAX_LENGTH = 200
# Above every character: `prefix <= value < prefix + TOP` is "value starts with prefix".
TOP = chr(0x10FFFF)


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass
class HistoryFilter:
    since: dt.date | None = None
    until: dt.date | None = None
    action_type: str = ""
    event: str = ""
    q: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> HistoryFilter:
        """The filters of a query string; an unknown event is ignored, a date that does not
        parse is an error to show (and no filter)."""
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

    def records(self, workflow: Workflow) -> list[int] | None:
        """Ids of the records `q` finds (at most SEARCH_LIMIT), None without `q`. Names are
        tried as typed, in lower case, Capitalised and Title Cased; emails are stored
        lowercased."""
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

    def apply_to_executions(
        self, executions: QuerySet[ActionExecution], workflow: Workflow
    ) -> QuerySet[ActionExecution]:
        if self.since:
            executions = executions.filter(created_at__gte=_day_start(self.since))
        if self.until:
            executions = executions.filter(
                created_at__lt=_day_start(self.until + dt.timedelta(days=1))
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

    def apply_to_enrollments(
        self, enrollments: QuerySet[Enrollment], workflow: Workflow
    ) -> QuerySet[Enrollment]:
        """The enrollment history has no action or event filter."""
        if self.since:
            enrollments = enrollments.filter(enrolled_at__gte=_day_start(self.since))
        if self.until:
            enrollments = enrollments.filter(
                enrolled_at__lt=_day_start(self.until + dt.timedelta(days=1))
            )
        records = self.records(workflow)
        if records is not None:
            enrollments = enrollments.filter(record__in=records)
        return enrollments
