"""Function calling in /v1/responses: which functions the simulated model calls.

A round ends either in function calls (one `function_call` output item each) or in a
text answer. The model calls functions when

- a scripted rule (config `tool_calls`, or `POST /_sim/config {"tool_calls": [...]}`)
  matches the request (instructions, the user's latest message, key, model): its calls,
  among the request's tools;
- otherwise, when the user's latest message names a function (`lookup_contact`, or
  "lookup contact"): that function, with arguments built from its parameters schema,
  filled from the prompt's `key: value` lines and the answer rules' facts;
- `tool_choice: "required"` or a named function forces a call; `"none"` forbids calls,
  and `allowed_tools` narrows the functions.

Once the calls since the user's latest message have their outputs
(`function_call_output` items, matched by `call_id`), the model answers in text that
reads the outputs, or the rule's `answer`. `parallel_tool_calls: false` keeps only the
first call of a round.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .answers import AnswerFacts
from .config import ToolCallRule
from .conversation import Prompt
from .structured import build_from_schema


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # JSON text, as the API sends it


class ToolFacts(AnswerFacts):
    """Answer facts that first look for a parameter among the prompt's `key: value` lines."""

    def value_for_field(self, field_name: str):
        name = field_name.lower()
        value = self.fields.get(name) or self.fields.get(name.replace("_", " "))
        return value if value is not None else super().value_for_field(field_name)


def function_tools(tools: list[dict], tool_choice: object) -> list[dict]:
    functions = [t for t in tools if t.get("type") == "function"]
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "allowed_tools":
        allowed = {t.get("name") for t in tool_choice.get("tools", ()) if isinstance(t, dict)}
        functions = [f for f in functions if f["name"] in allowed]
    return functions


def matching_rule(
    rules: list[ToolCallRule], *, key, model: str, instructions: str, user_text: str
) -> ToolCallRule | None:
    for rule in rules:
        if rule.key and rule.key not in (key.name, key.key):
            continue
        if rule.model and rule.model != model:
            continue
        if rule.instructions and not re.search(rule.instructions, instructions, re.I):
            continue
        if rule.input and not re.search(rule.input, user_text, re.I):
            continue
        return rule
    return None


def _mentions(text: str, name: str) -> bool:
    text, name = text.lower(), name.lower()
    return any(form in text for form in {name, name.replace("_", " "), name.replace("-", " ")})


def _arguments_for(function: dict, facts: AnswerFacts) -> str:
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    try:
        value = build_from_schema(parameters, facts)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        value = {}
    return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)


def _scripted_arguments(arguments: object) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments or {})


def choose_calls(
    prompt: Prompt,
    *,
    rule: ToolCallRule | None,
    tool_choice: object,
    parallel: bool,
) -> list[Call]:
    """The function calls that end this round (none: the model answers in text)."""
    functions = function_tools(prompt.tools, tool_choice)
    if not functions or tool_choice == "none":
        return []
    user_text, since = prompt.current_turn()
    if any(item.kind == "function_call" for item in since):
        return []  # this turn's calls are answered: time for the text answer
    by_name = {f["name"]: f for f in functions}
    facts = ToolFacts(prompt.system_text(), user_text)
    if rule is not None:
        calls = [
            Call(c["name"], _scripted_arguments(c.get("arguments")))
            for c in rule.calls
            if c["name"] in by_name
        ]
    else:
        calls = [
            Call(f["name"], _arguments_for(f, facts))
            for f in functions
            if _mentions(user_text, f["name"])
        ]
    forced = tool_choice.get("name") if isinstance(tool_choice, dict) else None
    if forced in by_name:
        calls = [c for c in calls if c.name == forced] or [
            Call(forced, _arguments_for(by_name[forced], facts))
        ]
    elif not calls and (
        tool_choice == "required"
        or (isinstance(tool_choice, dict) and tool_choice.get("mode") == "required")
    ):
        calls = [Call(functions[0]["name"], _arguments_for(functions[0], facts))]
    return calls[:1] if not parallel else calls


def outputs_text(prompt: Prompt) -> str:
    """The function outputs received since the user's latest message."""
    _, since = prompt.current_turn()
    return "\n".join(item.text for item in since if item.kind == "function_call_output")
