"""CRM tools a workspace assistant may be given (its "CRM tools" checkboxes): the
functions sent to OpenAI and what runs when the model calls one.

What must stay true (docs/data-controls.md):
- **Read-only.** A tool reads through crm's querysets and services and writes nothing,
  so a step that crashes mid-loop can restart from its first round without side
  effects (run.py).
- **Scoped to the enrolling account.** Every read starts from `ToolScope.account`; an
  id of another account's record answers "not found", like an id that does not exist.
- **Only what the data controls allow.** A sensitive property's value is WITHHELD, a
  filter on one is refused, and with masking on the result text is masked.
- **Bounded.** Lists are capped (`MAX_LIMIT`), long values cut, and a result over
  RESULT_MAX_CHARS is cut to fit with a `truncated` note the model reads.
- **In the worker's batch thread**, never in a call thread (those hold no database
  connection): run.py runs a round's calls between two model requests.

Each function is strict JSON schema (every parameter required, no others), so the
model's arguments always have the expected shape; values are still checked here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from marketplace.integrations.openai.tools import crm_read
from marketplace.integrations.openai.tools.crm_read import ToolError, ToolScope

__all__ = ["TOOLS", "Tool", "ToolScope", "call_run", "functions_for", "tool_choices"]

# What one tool result may weigh in the conversation (characters of JSON).
RESULT_MAX_CHARS = 6_000
# What the run history keeps of one result (the whole result went to OpenAI).
RESULT_SHOWN_CHARS = 1_500

_OBJECTS = ["contact", "company", "deal", "ticket"]


@dataclass(frozen=True)
class Tool:
    name: str  # the function name OpenAI sees (^[a-zA-Z0-9_-]{1,64}$)
    label: Promise | str  # the checkbox on the assistant
    description: str  # for the model (English, as OpenAI's own docs)
    parameters: dict[str, Any]
    run: Callable[[ToolScope, dict[str, Any]], dict[str, Any]]

    def function(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": True,
        }


def _object_schema(**properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


_OBJECT = {"type": "string", "enum": _OBJECTS, "description": "The kind of CRM record."}
_ID = {"type": "integer", "description": "The record's id."}

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="search_records",
            label=_("Search records"),
            description=(
                "Search CRM records of one kind by text (in their name) and/or by one "
                "property's exact value. Use an empty string for a criterion you do not "
                "use. Returns up to `limit` records with their properties."
            ),
            parameters=_object_schema(
                object=_OBJECT,
                text=_string("Text to find in the record's name, or an empty string."),
                property=_string("A property's internal name to filter on, or an empty string."),
                value=_string("The value that property must have (with `property`)."),
                limit={"type": "integer", "description": f"At most {crm_read.MAX_LIMIT}."},
            ),
            run=crm_read.search_records,
        ),
        Tool(
            name="get_record",
            label=_("Read a record"),
            description="Read one CRM record's properties by its kind and id.",
            parameters=_object_schema(object=_OBJECT, id=_ID),
            run=crm_read.get_record,
        ),
        Tool(
            name="list_associated_records",
            label=_("Associated records (e.g. a contact's company)"),
            description=(
                "List the records associated with one CRM record (a contact's company, "
                "a company's deals…) with their properties. `associated_object` narrows "
                "them to one kind, or `any`."
            ),
            parameters=_object_schema(
                object=_OBJECT,
                id=_ID,
                associated_object={"type": "string", "enum": [*_OBJECTS, "any"]},
            ),
            run=crm_read.list_associated_records,
        ),
        Tool(
            name="get_recent_activity",
            label=_("Recent activity"),
            description=(
                "A CRM record's most recent activity, newest first: notes, tasks, form "
                "submissions and emails sent by workflows."
            ),
            parameters=_object_schema(
                object=_OBJECT,
                id=_ID,
                limit={"type": "integer", "description": f"At most {crm_read.MAX_LIMIT}."},
            ),
            run=crm_read.recent_activity,
        ),
    )
}


def tool_choices() -> list[tuple[str, Promise | str]]:
    return [(tool.name, tool.label) for tool in TOOLS.values()]


def functions_for(names: list[str] | tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """The function definitions sent for an assistant's tools (unknown names skipped)."""
    return tuple(TOOLS[name].function() for name in names if name in TOOLS)


def call_run(scope: ToolScope, name: str, arguments: str) -> str:
    """One function call's output: the result's JSON (capped), or an error the model can
    read and act on. Never raises for what the model sends."""
    tool = TOOLS.get(name)
    if tool is None or name not in scope.allowed_tools:
        return _dump({"error": f"There is no tool named {name!r}."})
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return _dump({"error": "The arguments are not valid JSON."})
    if not isinstance(parsed, dict):
        return _dump({"error": "The arguments must be a JSON object."})
    try:
        result = tool.run(scope, parsed)
    except ToolError as error:
        result = {"error": str(error)}
    return scope.masked(_fit(result))


def shown(output: str) -> str:
    """A result as the run history keeps it."""
    if len(output) <= RESULT_SHOWN_CHARS:
        return output
    return output[:RESULT_SHOWN_CHARS] + "…"


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _fit(result: dict[str, Any]) -> str:
    """The result's JSON within RESULT_MAX_CHARS: a list is cut to the records that fit,
    then any result is cut hard, each time with a `truncated` note for the model."""
    text = _dump(result)
    if len(text) <= RESULT_MAX_CHARS:
        return text
    for key in ("records", "activity"):
        items = result.get(key)
        if isinstance(items, list) and len(items) > 1:
            total = len(items)
            kept = list(items)
            while len(kept) > 1:
                kept = kept[: len(kept) // 2]
                trimmed = {
                    **result,
                    key: kept,
                    "truncated": f"Only {len(kept)} of {total} are shown (result size limit); "
                    "ask for fewer or narrow the search.",
                }
                text = _dump(trimmed)
                if len(text) <= RESULT_MAX_CHARS:
                    return text
    note = ' … "truncated": "the result was cut at its size limit"'
    return text[: RESULT_MAX_CHARS - len(note)] + note
