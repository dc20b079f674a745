"""Rules OpenAI enforces that openapi.yaml cannot express: one small named check each,
raising the ApiError OpenAI answers. They run after the schema check (validation.py),
so they may assume well-typed input. docs/simulator.md gives each one's source.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .config import ModelSpec
from .errors import ApiError, unsupported_parameter

# The Metadata schema's description: "up to 16 key-value pairs ... Keys are strings with
# a maximum length of 64 characters. Values are strings with a maximum length of 512".
METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512
# Function and response-format names: "a-z, A-Z, 0-9, or underscores and dashes, with
# a maximum length of 64" (the spec's descriptions of both `name` members).
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _check_name(name: str, param: str) -> None:
    if not NAME.match(name):
        raise ApiError(
            400,
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
            param=param,
            code="invalid_value",
        )


def check_metadata(metadata: object, param: str = "metadata") -> None:
    if not isinstance(metadata, dict):
        return
    if len(metadata) > METADATA_MAX_KEYS:
        raise ApiError(
            400,
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{METADATA_MAX_KEYS} properties, but got an object with {len(metadata)} "
            "properties instead.",
            param=param,
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise ApiError(
                400,
                f"Invalid property name in '{param}': '{key}' is too long. Expected a string "
                f"with maximum length {METADATA_MAX_KEY_LENGTH}, but got a string with length "
                f"{len(key)} instead.",
                param=f"{param}.{key}",
                code="property_name_above_max_length",
            )
        if isinstance(value, str) and len(value) > METADATA_MAX_VALUE_LENGTH:
            raise ApiError(
                400,
                f"Invalid '{param}.{key}': string too long. Expected a string with maximum "
                f"length {METADATA_MAX_VALUE_LENGTH}, but got a string with length "
                f"{len(value)} instead.",
                param=f"{param}.{key}",
                code="string_above_max_length",
            )


def check_model_parameters(model: ModelSpec, body: dict) -> None:
    """Reasoning models refuse sampling parameters; other models refuse reasoning ones."""
    if model.reasoning:
        for param in ("temperature", "top_p"):
            if body.get(param) is not None:
                raise unsupported_parameter(param)
        return
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        for member in ("effort", "summary"):
            if reasoning.get(member) is not None:
                raise unsupported_parameter(f"reasoning.{member}")
    if body.get("reasoning_effort") is not None:
        raise unsupported_parameter("reasoning_effort")


def _strict_fault(schema: object, context: tuple) -> str | None:
    """The first rule of strict mode a JSON schema breaks, in OpenAI's words, or None.

    Strict mode (structured outputs guide, "Supported schemas"): every object sets
    `additionalProperties: false` and lists every property in `required`.
    """
    if not isinstance(schema, dict):
        return None
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object:
        if schema.get("additionalProperties") is not False:
            return (
                f"In context={context!r}, 'additionalProperties' is required to be supplied "
                "and to be false."
            )
        required = schema.get("required")
        required = required if isinstance(required, list) else []
        for key in schema.get("properties") or {}:
            if key not in required:
                return (
                    f"In context={context!r}, 'required' is required to be supplied and to be "
                    f"an array including every key in properties. Missing '{key}'."
                )
    for name, sub in (schema.get("properties") or {}).items():
        fault = _strict_fault(sub, (*context, "properties", name))
        if fault:
            return fault
    for keyword in ("$defs", "definitions"):
        for name, sub in (schema.get(keyword) or {}).items():
            fault = _strict_fault(sub, (*context, keyword, name))
            if fault:
                return fault
    if isinstance(schema.get("items"), dict):
        fault = _strict_fault(schema["items"], (*context, "items"))
        if fault:
            return fault
    for index, sub in enumerate(schema.get("anyOf") or ()):
        fault = _strict_fault(sub, (*context, "anyOf", index))
        if fault:
            return fault
    return None


def _schema_fault(schema: dict, *, strict: bool) -> str | None:
    """Why a client's JSON schema cannot be used, or None."""
    return _schema_fault_of(json.dumps(schema, sort_keys=True), strict)


# Checking a schema against the JSON Schema meta-schema costs ~0.9 ms, more than the
# rest of the request; clients send the same few schemas again and again (OpenAI also
# processes a new schema once and caches it: structured outputs guide).
@lru_cache(maxsize=1024)
def _schema_fault_of(schema_json: str, strict: bool) -> str | None:
    schema = json.loads(schema_json)
    kind = schema.get("type")
    if kind != "object":
        shown = kind if isinstance(kind, str) else None
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{shown}\"'."
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return error.message
    return _strict_fault(schema, ()) if strict else None


def check_text_format(fmt: dict, input_text: str) -> None:
    if fmt.get("type") == "json_schema":
        _check_name(fmt["name"], "text.format.name")
        fault = _schema_fault(fmt["schema"], strict=fmt.get("strict") is True)
        if fault:
            raise ApiError(
                400,
                f"Invalid schema for response_format '{fmt.get('name')}': {fault}",
                param="text.format.schema",
                code="invalid_json_schema",
            )
    elif fmt.get("type") == "json_object" and "json" not in input_text.lower():
        raise ApiError(
            400,
            "Response input messages must contain the word 'json' in some form to use "
            "'text.format' of type 'json_object'.",
            param="input",
        )


def check_function_tools(tools: list) -> None:
    for index, tool in enumerate(tools):
        if tool.get("type") != "function":
            continue
        name = tool["name"]
        _check_name(name, f"tools[{index}].name")
        parameters = tool.get("parameters")
        if parameters is None:
            continue
        fault = _schema_fault(parameters, strict=tool.get("strict") is True)
        if fault:
            raise ApiError(
                400,
                f"Invalid schema for function '{name}': {fault}",
                param=f"tools[{index}].parameters",
                code="invalid_function_parameters",
            )


def check_tool_choice(tool_choice: object, tools: list) -> None:
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        names = {t.get("name") for t in tools if t.get("type") == "function"}
        if tool_choice.get("name") not in names:
            raise ApiError(
                400,
                f"Tool choice '{tool_choice.get('name')}' not found in 'tools' parameter.",
                param="tool_choice",
            )
