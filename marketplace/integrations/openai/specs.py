"""The values an engine call takes and returns, and the output-schema rules.

Plain frozen dataclasses, no Django: the action's run (run.py) builds an
`AssistantRequest` from a step's config and resolved prompt, an engine answers with an
`AssistantResult`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import RunFailed


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUMERATION = "enumeration"


@dataclass(frozen=True)
class OutputField:
    """One named field of a structured answer: `name` is what the model and the
    workflow's variables use, `label` what people read (the admin's words; empty: the
    name in words, "lead_score" → "Lead score")."""

    name: str
    type: FieldType
    choices: tuple[str, ...] = ()  # for ENUMERATION
    description: str = ""
    label: str = ""

    @property
    def shown_label(self) -> str:
        if self.label:
            return self.label
        words = self.name.replace("_", " ").strip()
        return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class AssistantSpec:
    """What an assistant is: a workspace assistant (Responses API) or, with
    `openai_assistant_id`, an account assistant (Assistants v2)."""

    model: str = ""  # may be empty for an account assistant: its own model is used
    instructions: str = ""
    temperature: float | None = None
    reasoning_effort: str | None = None  # minimal | low | medium | high
    output_fields: tuple[OutputField, ...] = ()  # empty: a text answer
    name: str = "assistant"
    openai_assistant_id: str | None = None
    # The CRM tools it may call (tools/ TOOLS names) and its most model requests a step.
    tools: tuple[str, ...] = ()
    max_tool_rounds: int = 5


@dataclass(frozen=True)
class Overrides:
    """The action's "Advanced API parameters"; None keeps the assistant's value."""

    model: str | None = None
    temperature: float | None = None
    reasoning_effort: str | None = None
    max_output_tokens: int | None = None  # the step's hard cap on the answer


@dataclass(frozen=True)
class AssistantRequest:
    assistant: AssistantSpec
    prompt: str
    overrides: Overrides = Overrides()
    metadata: Mapping[str, str] = field(
        default_factory=dict
    )  # e.g. workflow/execution ids (≤ 16, short)
    input_cut: int = 0  # characters of the prompt left out (the step's max input characters)
    # Function tools sent (tools.functions_for), the conversation after the prompt
    # (earlier rounds' function calls and their outputs) and a tool_choice ("none"
    # on the last round a step may make).
    functions: tuple[Mapping[str, Any], ...] = ()
    conversation: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | None = None
    # The processing tier asked for ("flex": economy mode's Flex processing), None: the
    # project's default.
    service_tier: str | None = None

    @property
    def model(self) -> str:
        return self.overrides.model or self.assistant.model

    @property
    def temperature(self) -> float | None:
        """None for reasoning models, which refuse the parameter."""
        value = (
            self.overrides.temperature
            if self.overrides.temperature is not None
            else self.assistant.temperature
        )
        return None if is_reasoning_model(self.model) else value

    @property
    def reasoning_effort(self) -> str | None:
        """None for models that do not reason, which refuse the parameter."""
        value = self.overrides.reasoning_effort or self.assistant.reasoning_effort
        return value if is_reasoning_model(self.model) else None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0  # includes reasoning tokens, as OpenAI bills them
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # part of input_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class AssistantResult:
    text: str
    structured: dict | None  # parsed and type-checked when the assistant has output fields
    model: str  # the model that actually answered, as OpenAI reports it
    usage: Usage
    engine: str  # "responses" | "assistants"
    response_id: str | None = None
    run_id: str | None = None
    thread_id: str | None = None
    # The x-ratelimit-* headers of the model-running request, for RateLimiter.record_response.
    rate_limit_headers: Mapping[str, str] = field(default_factory=dict)
    http_requests: int = 1  # requests this call made (runs poll), each counts against RPM
    duration_ms: int = 0
    # The function calls the answer asks for (Responses `function_call` items): the
    # round's tools must run and the conversation go on (run.py). Empty: a final answer.
    tool_calls: tuple[Mapping[str, Any], ...] = ()


_REASONING = re.compile(r"^(o1|o3|o4)(-|$)|^gpt-5(?!-chat)")


def is_reasoning_model(model_id: str) -> bool:
    """o1/o3/o4 and gpt-5 families: no temperature, reasoning effort allowed.
    (`gpt-5-chat-*` is a chat model without reasoning.)"""
    return bool(model_id) and bool(_REASONING.match(model_id.removeprefix("ft:")))


def schema_name(name: str) -> str:
    """OpenAI wants ^[a-zA-Z0-9_-]{1,64}$ for a json_schema name."""
    return (re.sub(r"[^a-zA-Z0-9_-]+", "_", name).strip("_") or "answer")[:64]


def json_schema(fields: tuple[OutputField, ...]) -> dict:
    """Strict JSON schema: every field required, nothing else allowed (what strict mode demands)."""
    properties: dict[str, dict] = {}
    for f in fields:
        if f.type == FieldType.TEXT:
            prop: dict = {"type": "string"}
        elif f.type == FieldType.NUMBER:
            prop = {"type": "number"}
        elif f.type == FieldType.BOOLEAN:
            prop = {"type": "boolean"}
        else:
            prop = {"type": "string", "enum": list(f.choices)}
        if f.description:
            prop["description"] = f.description
        properties[f.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }


def parse_structured(text: str, fields: tuple[OutputField, ...]) -> dict:
    """The answer's JSON as a dict of typed values, or RunFailed if it does not fit.

    Strict mode should make this impossible; it still happens with models or account
    assistants that ignore the schema, and a later branch must never see a wrong type.
    """
    try:
        data = json.loads(text)
    except ValueError as error:
        raise RunFailed(
            "The assistant did not answer with JSON as its output format asks.",
            status="invalid_output",
        ) from error
    if not isinstance(data, dict):
        raise RunFailed("The assistant's JSON answer is not an object.", status="invalid_output")
    result: dict = {}
    for f in fields:
        if f.name not in data:
            raise RunFailed(
                f"The assistant's answer has no field '{f.name}'.", status="invalid_output"
            )
        value = data[f.name]
        ok = {
            FieldType.TEXT: isinstance(value, str),
            FieldType.NUMBER: isinstance(value, (int, float)) and not isinstance(value, bool),
            FieldType.BOOLEAN: isinstance(value, bool),
            FieldType.ENUMERATION: isinstance(value, str) and value in f.choices,
        }[f.type]
        if not ok:
            raise RunFailed(
                f"The assistant's field '{f.name}' is not a valid {f.type.value}: "
                f"{str(value)[:80]!r}.",
                status="invalid_output",
            )
        result[f.name] = value
    return result
