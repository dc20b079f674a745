"""Request bodies checked against openapi.yaml, refused in OpenAI's words.

One validator per operation, compiled once per process (`schemacompile.py` says how the
spec is read). The first violation is answered as OpenAI does: 400, type
`invalid_request_error`, `param` the dotted path (`input[0].content`, `text.format.type`),
and the code and sentence OpenAI uses for that kind of fault, e.g.

    Unknown parameter: 'foo'.                                           unknown_parameter
    Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.
    Invalid type for 'store': expected a boolean, but got a string instead.    invalid_type
    Invalid value: 'x'. Supported values are: 'low', 'medium', and 'high'.     invalid_value
"""

from __future__ import annotations

from functools import cache

from jsonschema.exceptions import ValidationError

from .errors import ApiError
from .schemacompile import (
    RequestSchemaValidator,
    compile_operations,
    expected_text,
    json_kind,
    quoted,
)

_GOT = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a decimal number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def dotted(path) -> str:
    """["input", 0, "content"] -> "input[0].content" (OpenAI's `param`)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def invalid(param: str, message: str, code: str | None) -> ApiError:
    return ApiError(400, message, param=param or None, code=code)


def _number_word(schema: dict) -> str:
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else (kind or [])
    return "integer" if "integer" in kinds else "decimal"


def to_api_error(error: ValidationError) -> ApiError:
    path = list(error.absolute_path)
    keyword, limit, value = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "additionalProperties":
        known = schema.get("properties", {})
        extra = next((k for k in value if k not in known), "")
        param = dotted([*path, extra])
        return invalid(param, f"Unknown parameter: '{param}'.", "unknown_parameter")
    if keyword == "required":
        missing = next((k for k in limit if k not in value), limit[0])
        param = dotted([*path, missing])
        return invalid(
            param, f"Missing required parameter: '{param}'.", "missing_required_parameter"
        )
    param = dotted(path)
    if keyword == "type":
        return invalid(
            param,
            f"Invalid type for '{param}': expected {expected_text(schema)}, "
            f"but got {_GOT.get(json_kind(value), 'an unknown type')} instead.",
            "invalid_type",
        )
    if keyword in ("enum", "const"):
        supported = limit if keyword == "enum" else [limit]
        supported = [v for v in supported if v is not None]
        return invalid(
            param,
            f"Invalid value: '{value}'. Supported values are: {quoted(supported, 'and')}.",
            "invalid_value",
        )
    bounds = {
        "minimum": ("below minimum value", ">=", "below_min_value"),
        "exclusiveMinimum": ("below minimum value", ">", "below_min_value"),
        "maximum": ("above maximum value", "<=", "above_max_value"),
        "exclusiveMaximum": ("above maximum value", "<", "above_max_value"),
    }
    if keyword in bounds:
        words, sign, code = bounds[keyword]
        number = _number_word(schema)
        return invalid(
            param,
            f"Invalid '{param}': {number} {words}. Expected a value {sign} {limit}, "
            f"but got {value} instead.",
            f"{number}_{code}",
        )
    return invalid(param, *_size_fault(param, keyword, limit, value, error.message))


def _size_fault(param: str, keyword: str, limit, value, fallback: str) -> tuple[str, str]:
    if keyword == "maxLength":
        return (
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{limit}, but got a string with length {len(value)} instead.",
            "string_above_max_length",
        )
    if keyword == "minLength" and value == "":
        return (
            f"Invalid '{param}': empty string. Expected a string with minimum length "
            f"{limit}, but got an empty string instead.",
            "empty_string",
        )
    if keyword == "minLength":
        return (
            f"Invalid '{param}': string too short. Expected a string with minimum length "
            f"{limit}, but got a string with length {len(value)} instead.",
            "string_below_min_length",
        )
    if keyword == "maxItems":
        return (
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{limit}, but got an array with length {len(value)} instead.",
            "array_above_max_length",
        )
    if keyword == "minItems" and not value:
        return (
            f"Invalid '{param}': empty array. Expected an array with minimum length "
            f"{limit}, but got an empty array instead.",
            "empty_array",
        )
    if keyword == "minItems":
        return (
            f"Invalid '{param}': array too short. Expected an array with minimum length "
            f"{limit}, but got an array with length {len(value)} instead.",
            "array_below_min_length",
        )
    if keyword == "maxProperties":
        return (
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{limit} properties, but got an object with {len(value)} properties instead.",
            "object_above_max_properties",
        )
    if keyword == "pattern":
        return (
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            f"matches the pattern '{limit}'.",
            "invalid_value",
        )
    return f"Invalid '{param}': {fallback}", "invalid_value"


class RequestValidator:
    """Checks one operation's request body; raises the ApiError OpenAI would answer."""

    def __init__(self, schema: dict) -> None:
        self._validator = RequestSchemaValidator(schema)

    def check(self, body: dict) -> None:
        error = next(self._validator.iter_errors(body), None)
        if error is not None:
            raise to_api_error(error)


@cache
def request_validators() -> dict[str, RequestValidator]:
    """By "METHOD /path" as in openapi.yaml ("POST /threads/{thread_id}/runs")."""
    return {op: RequestValidator(schema) for op, schema in compile_operations().items()}
