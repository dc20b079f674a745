"""Structured output: build JSON that satisfies a json_schema, filled from rule answers."""

from __future__ import annotations

from .answers import AnswerFacts

_MAX_DEPTH = 12


def build_from_schema(schema: dict, facts: AnswerFacts) -> object:
    return _build(schema, schema, facts, field_name="", depth=0)


def _resolve(ref: str, root: dict) -> dict:
    node: object = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]  # type: ignore[index]
    return node  # type: ignore[return-value]


def _fits_type(value: object, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _build(schema: dict, root: dict, facts: AnswerFacts, field_name: str, depth: int) -> object:
    if depth > _MAX_DEPTH or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return _build(_resolve(schema["$ref"], root), root, facts, field_name, depth + 1)
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [o for o in schema[combinator] if o.get("type") != "null"] or schema[
                combinator
            ]
            return _build(options[0], root, facts, field_name, depth + 1)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part["$ref"], root) if "$ref" in part else part)
        return _build(merged, root, facts, field_name, depth + 1)

    hint = facts.value_for_field(field_name) if field_name else None
    if "enum" in schema:
        for option in schema["enum"]:
            if isinstance(hint, str) and isinstance(option, str) and option.lower() == hint.lower():
                return option
        return schema["enum"][0]

    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _build(sub, root, facts, name, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        if "maxItems" in schema:
            count = min(count, schema["maxItems"])
        item_name = field_name[:-1] if field_name.endswith("s") else field_name
        return [
            _build(schema.get("items", {}), root, facts, item_name, depth + 1) for _ in range(count)
        ]
    if kind == "null":
        return None
    if kind == "boolean":
        return hint if isinstance(hint, bool) else False
    if kind in ("integer", "number"):
        if isinstance(hint, str):  # a prompt's `id: 42` line
            hint = _number(hint, kind)
        value = hint if _fits_type(hint, kind) else schema.get("minimum", 0)
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        return int(value) if kind == "integer" else float(value)
    return _string(schema, hint, field_name)


def _number(text: str, kind: str) -> int | float | None:
    try:
        return int(text.strip()) if kind == "integer" else float(text.strip())
    except ValueError:
        return None


def _string(schema: dict, hint: object, field_name: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        value = "2026-01-01T09:00:00Z"
    elif fmt == "date":
        value = "2026-01-01"
    elif fmt == "email":
        value = "jane.doe@example.com"
    elif fmt in ("uri", "url"):
        value = "https://example.com"
    elif isinstance(hint, str) and hint:
        value = hint
    else:
        value = f"example {field_name}".strip() if field_name else "example"
    if "maxLength" in schema:
        value = value[: schema["maxLength"]]
    if len(value) < schema.get("minLength", 0):
        value = value.ljust(schema["minLength"], ".")
    return value
