"""The CRM reads behind the tools (tools/__init__.py says what must stay true): each
takes the call's `ToolScope` and the model's arguments and returns a JSON-able result,
or raises ToolError with a message the model reads. Reads go through crm's querysets
and services, always from the scope's account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from crm import filters
from crm import properties as props
from crm.listing import search_q
from crm.models import Account, ObjectType, PropertyDefinition, Record, TimelineEvent
from crm.services import associated_records, definitions_for
from marketplace.integrations.openai.datacontrols import WITHHELD, mask_text

DEFAULT_LIMIT = 10
MAX_LIMIT = 25
# A longer text value is cut (a note's body, a long description).
VALUE_MAX_CHARS = 500


class ToolError(Exception):
    """What the model asked cannot be done: the message tells it why."""


@dataclass
class ToolScope:
    """What one step's tool calls may read: the enrolling account's records, through
    the tools the assistant was given, without its sensitive properties."""

    account: Account
    allowed_tools: frozenset[str]
    mask: bool = False
    _definitions: dict[str, dict[str, PropertyDefinition]] = field(default_factory=dict)

    def definitions(self, object_type: str) -> dict[str, PropertyDefinition]:
        if object_type not in self._definitions:
            self._definitions[object_type] = definitions_for(self.account, object_type)
        return self._definitions[object_type]

    def masked(self, text: str) -> str:
        return mask_text(text) if self.mask else text

    def record(self, arguments: dict[str, Any]) -> Record:
        object_type = _object_type(arguments.get("object"))
        record_id = arguments.get("id")
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            raise ToolError("`id` must be a record id (an integer).")
        # Another account's id reads exactly like one that does not exist.
        record = Record.objects.filter(
            account=self.account, object_type=object_type, pk=record_id
        ).first()
        if record is None:
            raise ToolError(f"No {object_type} with id {record_id}.")
        return record

    def shown(self, record: Record) -> dict[str, Any]:
        """A record as a tool returns it: every property with a value, a sensitive one
        as WITHHELD."""
        definitions = self.definitions(record.object_type)
        values: dict[str, str] = {}
        for name, value in record.properties.items():
            definition = definitions.get(name)
            if definition is None or value in (None, ""):
                continue
            if definition.sensitive:
                values[name] = WITHHELD
                continue
            try:
                text = props.display(definition, value)
            except (ValueError, TypeError):
                continue
            values[name] = _cut(text)
        return {"object": record.object_type, "id": record.pk, "properties": values}


def _object_type(value: Any) -> str:
    if value not in ObjectType.values:
        raise ToolError(f"`object` must be one of {', '.join(ObjectType.values)}.")
    return str(value)


def _limit(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return DEFAULT_LIMIT
    return min(value, MAX_LIMIT)


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_MAX_CHARS else text[:VALUE_MAX_CHARS] + "… (cut)"


def search_records(scope: ToolScope, arguments: dict[str, Any]) -> dict[str, Any]:
    object_type = _object_type(arguments.get("object"))
    definitions = scope.definitions(object_type)
    records = Record.objects.filter(account=scope.account, object_type=object_type)
    text = str(arguments.get("text") or "").strip()
    if text:
        merge_key = {ObjectType.CONTACT: "email", ObjectType.COMPANY: "domain"}.get(
            ObjectType(object_type)
        )
        email_sent = merge_key is not None and not (
            merge_key in definitions and definitions[merge_key].sensitive
        )
        # Searching a withheld email would let the model test guesses of it.
        records = records.filter(search_q(text) if email_sent else _name_q(text))
    name = str(arguments.get("property") or "").strip()
    if name:
        definition = definitions.get(name)
        if definition is None or definition.sensitive:
            raise ToolError(f"The {object_type} property {name!r} is not available.")
        condition = {"property": name, "operator": "eq_any", "values": [arguments.get("value")]}
        try:
            groups = filters.parse_groups(definitions, [[condition]])
        except ValidationError as error:
            raise ToolError(" ".join(error.messages)) from None
        records = records.filter(filters.groups_q(groups))
    limit = _limit(arguments.get("limit"))
    found = list(records.order_by("-id")[: limit + 1])
    result: dict[str, Any] = {"records": [scope.shown(r) for r in found[:limit]]}
    if len(found) > limit:
        result["more"] = f"More records match; only the first {limit} are shown."
    return result


def _name_q(text: str) -> Q:
    return Q(name__icontains=" ".join(text.split())[:200])


def get_record(scope: ToolScope, arguments: dict[str, Any]) -> dict[str, Any]:
    return scope.shown(scope.record(arguments))


def list_associated_records(scope: ToolScope, arguments: dict[str, Any]) -> dict[str, Any]:
    record = scope.record(arguments)
    kind = arguments.get("associated_object")
    object_type = None if kind in (None, "", "any") else _object_type(kind)
    found = list(associated_records(record, object_type).order_by("id")[: MAX_LIMIT + 1])
    result: dict[str, Any] = {"records": [scope.shown(r) for r in found[:MAX_LIMIT]]}
    if len(found) > MAX_LIMIT:
        result["more"] = f"More records are associated; only the first {MAX_LIMIT} are shown."
    return result


_ACTIVITY_KINDS = (
    TimelineEvent.Kind.NOTE,
    TimelineEvent.Kind.TASK,
    TimelineEvent.Kind.FORM_SUBMITTED,
    TimelineEvent.Kind.WORKFLOW,
)


def recent_activity(scope: ToolScope, arguments: dict[str, Any]) -> dict[str, Any]:
    record = scope.record(arguments)
    limit = _limit(arguments.get("limit"))
    definitions = scope.definitions(record.object_type)
    activity: list[dict[str, Any]] = []
    events = TimelineEvent.objects.filter(
        account=scope.account, record=record, kind__in=_ACTIVITY_KINDS
    ).order_by("-created_at", "-id")
    # Workflow events are mostly step results: read a few more to find `limit` items.
    for event in events[: limit * 4]:
        item = _activity(event, definitions)
        if item is not None:
            activity.append(item)
        if len(activity) == limit:
            break
    return {"object": record.object_type, "id": record.pk, "activity": activity}


def _activity(
    event: TimelineEvent, definitions: dict[str, PropertyDefinition]
) -> dict[str, Any] | None:
    data = event.data if isinstance(event.data, dict) else {}
    at = event.created_at.isoformat(timespec="minutes")
    if event.kind == TimelineEvent.Kind.NOTE:
        return {"type": "note", "at": at, "body": _cut(str(data.get("body") or ""))}
    if event.kind == TimelineEvent.Kind.TASK:
        return {"type": "task", "at": at, "title": _cut(str(data.get("title") or ""))}
    if event.kind == TimelineEvent.Kind.FORM_SUBMITTED:
        answers = {}
        for answer in data.get("answers") or []:
            if not isinstance(answer, dict):
                continue
            key = str(answer.get("key") or "")
            definition = definitions.get(key)
            sensitive = definition is not None and definition.sensitive
            answers[str(answer.get("label") or key)] = (
                WITHHELD if sensitive else _cut(str(answer.get("value") or ""))
            )
        return {
            "type": "form submission",
            "at": at,
            "form": str(data.get("form_name") or ""),
            "answers": answers,
        }
    # A workflow's email (an event with a subject); other step results are left out.
    if data.get("subject"):
        return {
            "type": "email sent by a workflow",
            "at": at,
            "subject": _cut(str(data["subject"])),
            "workflow": str(data.get("workflow") or ""),
        }
    return None
