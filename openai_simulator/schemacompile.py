"""Compile the request schemas extracted from openapi.yaml (`openapi_requests.json`) into
jsonschema validators, once per process.

The spec describes requests more loosely than the API behaves. Each difference is one
transform here, listed in docs/simulator.md; nothing else about the schemas changes:

1. `nullable: true` (OpenAPI 3.0, still used in parts of this 3.1 spec) means "or null".
2. An object that lists `properties` and says nothing about other members is closed:
   OpenAI answers an unknown member with 400 `unknown_parameter` ("Unknown parameter:
   'input[0].foo'."). Objects that declare `additionalProperties` keep what they declare
   (metadata maps, the JSON schemas a client sends).
3. `oneOf` is read as `anyOf`: its alternatives overlap (`{"role": "user", "content": "hi"}`
   is both an EasyInputMessage and an InputMessage) and OpenAI takes either.
4. `FunctionTool.strict` is optional: the spec requires it (it shares the schema with the
   tool echoed in a response), OpenAI's function-calling guide documents omitting it.

Two more change only speed and error wording:

5. `allOf` of object schemas is merged into one object (each part alone, closed by (2),
   would refuse the others' members).
6. Unions are dispatched instead of tried in turn: by the JSON type of the value, then,
   for objects, by their discriminator (OpenAPI `discriminator.propertyName`, or `type`
   when every alternative fixes it). Trying the ~30 input item schemas one by one cost
   about 1 ms per item; dispatch also lets an error name the branch the client meant.

References are inlined, except recursive ones, which go to `$defs`.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

EXTRACT_PATH = Path(__file__).with_name("openapi_requests.json")

# Documentation-only or not asserted by jsonschema by default: dropped when compiling.
_DROP = frozenset({"default", "deprecated", "format", "readOnly", "writeOnly", "nullable"})
_SUBSCHEMA = ("items", "additionalProperties", "propertyNames", "not", "contains")
# Met first by jsonschema: a wrong type or an unknown member is reported before what is
# inside it, as OpenAI does ("an unknown key beats a bad type").
_FIRST = ("type", "enum", "const", "additionalProperties", "required")
# Request-side corrections to the spec (transform 4): component -> members not required.
_NOT_REQUIRED = {"FunctionTool": ("strict",)}


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def quoted(values: list, last: str) -> str:
    """'a', 'b', or 'c' (OpenAI's lists of values)."""
    items = [f"'{v}'" for v in values]
    if len(items) <= 2:
        return f" {last} ".join(items)
    return ", ".join(items[:-1]) + f", {last} {items[-1]}"


@dataclass
class Dispatch:
    """Object alternatives told apart by one member (OpenAPI's discriminator)."""

    member: str
    mapping: dict[str, list[dict]]
    default: str | None  # value assumed when the member is absent; None: it is required


@dataclass
class Union:
    alternatives: list[dict]
    by_kind: dict[str, list[dict] | Dispatch]
    expected: str  # "one of a string or array of objects", for invalid_type messages


def _names(schema: dict) -> list[str]:
    """What a schema accepts, in OpenAI's words without an article ("array of objects")."""
    union = schema.get("x-union")
    if union is not None:
        return [n for alt in union.alternatives for n in _names(alt)]
    enum = schema.get("enum")
    if enum and all(isinstance(v, str) for v in enum):
        return [f"one of {quoted(enum, 'or')}"]
    kinds = schema.get("type") or ("object" if "properties" in schema else None)
    if kinds is None:
        return []
    names = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "array":
            items = schema.get("items") or {}
            names.append("array of objects" if "object" in _kinds(items) else "array")
        elif kind != "null":
            names.append({"number": "decimal"}.get(kind, kind))
    return names


def expected_text(schema: dict) -> str:
    names = list(dict.fromkeys(_names(schema))) or ["a valid value"]

    def article(name: str) -> str:
        if name.startswith(("one of", "a valid")):
            return name
        return f"an {name}" if name[0] in "aeiou" else f"a {name}"

    if len(names) == 1:
        return article(names[0])
    return "one of " + article(names[0]) + " or " + " or ".join(names[1:])


def _kinds(schema: dict) -> list[str]:
    """JSON kinds a compiled schema can accept; ["*"] when it does not say."""
    kind = schema.get("type")
    if isinstance(kind, str):
        kinds = [kind]
    elif isinstance(kind, list):
        kinds = list(kind)
    elif "x-union" in schema:
        kinds = list(schema["x-union"].by_kind)
    elif "properties" in schema or "required" in schema:
        kinds = ["object"]
    elif "enum" in schema:
        kinds = list(dict.fromkeys(json_kind(v) for v in schema["enum"]))
    else:
        return ["*"]
    if "number" in kinds and "integer" not in kinds:
        kinds.append("integer")
    return kinds


def _ordered(node: dict) -> dict:
    first = {k: node[k] for k in _FIRST if k in node}
    return first | {k: v for k, v in node.items() if k not in first}


def _with_null(node: dict) -> dict:
    """`node` or null."""
    if set(node) == {"x-union"}:
        union = node["x-union"]
        return {"x-union": _build_union([*union.alternatives, {"type": "null"}], None)}
    kind = node.get("type")
    if isinstance(kind, str) and kind != "null":
        widened = dict(node, type=[kind, "null"])
        if "enum" in node:
            widened["enum"] = [*node["enum"], None]
        return _ordered(widened)
    return {"x-union": _build_union([node, {"type": "null"}], None)}


def _dispatch(alternatives: list[dict], member: str) -> Dispatch | None:
    mapping: dict[str, list[dict]] = {}
    default = None
    for alt in alternatives:
        spec = alt.get("properties", {}).get(member) or {}
        values = spec.get("enum") or ([spec["const"]] if "const" in spec else None)
        if not values:
            return None
        for value in values:
            mapping.setdefault(value, []).append(alt)
        if default is None and member not in alt.get("required", ()):
            default = values[0]
    return Dispatch(member, mapping, default)


def _build_union(alternatives: list[dict], discriminator: str | None) -> Union:
    flat: list[dict] = []
    for alt in alternatives:
        nested = alt.get("x-union")
        if nested is not None and set(alt) <= {"x-union", "type"}:
            flat.extend(nested.alternatives)
        else:
            flat.append(alt)
    by_kind: dict[str, list[dict]] = {}
    anything = [alt for alt in flat if _kinds(alt) == ["*"]]
    for alt in flat:
        for kind in _kinds(alt):
            if kind != "*":
                by_kind.setdefault(kind, []).append(alt)
    for bucket in by_kind.values():
        bucket.extend(anything)
    if anything:
        by_kind["*"] = anything
    dispatched: dict[str, list[dict] | Dispatch] = dict(by_kind)
    objects = by_kind.get("object", [])
    if len(objects) > 1 and not anything:
        dispatch = _dispatch(objects, discriminator or "type")
        if dispatch is not None:
            dispatched["object"] = dispatch
    union = Union(flat, dispatched, "")
    union.expected = expected_text({"x-union": union})
    return union


def _merge_objects(parts: list[dict]) -> dict:
    """allOf of object schemas as one object (transform 5)."""
    if any("x-union" in p or "$ref" in p or _kinds(p) not in (["object"], ["*"]) for p in parts):
        return {"allOf": parts}
    properties: dict[str, dict] = {}
    required: list[str] = []
    for part in parts:
        for name, sub in part.get("properties", {}).items():
            properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
        required.extend(r for r in part.get("required", ()) if r not in required)
    merged: dict = {"type": "object", "properties": properties}
    if required:
        merged["required"] = required
    with_members = [p for p in parts if "properties" in p]
    if with_members and all(p.get("additionalProperties") is False for p in with_members):
        merged["additionalProperties"] = False
    return _ordered(merged)


class SchemaCompiler:
    def __init__(self, components: dict[str, dict]) -> None:
        self.components = components
        self.compiled: dict[str, dict] = {}
        self.compiling: set[str] = set()
        self.recursive: set[str] = set()

    def root(self, name: str) -> dict:
        schema = dict(self.component(name))
        if self.recursive:
            schema["$defs"] = {n: self.compiled[n] for n in sorted(self.recursive)}
        return schema

    def component(self, name: str) -> dict:
        if name in self.compiled:
            return self.compiled[name]
        if name in self.compiling:
            self.recursive.add(name)
            return {"$ref": f"#/$defs/{name}"}
        self.compiling.add(name)
        raw = self.components[name]
        if name in _NOT_REQUIRED and "required" in raw:
            dropped = _NOT_REQUIRED[name]
            raw = dict(raw, required=[r for r in raw["required"] if r not in dropped])
        compiled = self.node(raw)
        self.compiling.discard(name)
        self.compiled[name] = compiled
        return compiled

    def node(self, schema: object) -> dict:
        if not isinstance(schema, dict):
            return {} if schema is True else {"not": {}}
        result = self._node(schema)
        return _with_null(result) if schema.get("nullable") else result

    def _node(self, schema: dict) -> dict:
        out: dict = {}
        for key, value in schema.items():
            if key in _DROP or key.startswith("x-") or key == "discriminator":
                continue
            if key in ("allOf", "oneOf", "anyOf", "$ref"):
                continue
            if key == "properties":
                out[key] = {name: self.node(sub) for name, sub in value.items()}
            elif key in _SUBSCHEMA:
                out[key] = self.node(value) if isinstance(value, dict) else value
            elif key == "prefixItems":
                out[key] = [self.node(sub) for sub in value]
            elif key == "patternProperties":
                out[key] = {pattern: self.node(sub) for pattern, sub in value.items()}
            else:
                out[key] = value
        if out.get("additionalProperties") in ({}, True):
            del out["additionalProperties"]  # declared open: stays open
        elif "properties" in out and "additionalProperties" not in schema:
            out["additionalProperties"] = False  # transform 2
        parts = []
        if "$ref" in schema:
            parts.append(self.component(schema["$ref"].rsplit("/", 1)[1]))
        parts.extend(self.node(sub) for sub in schema.get("allOf", ()))
        if parts:
            if set(out) <= {"type"} and len(parts) == 1:
                out = dict(parts[0])
            else:
                out = _merge_objects([out, *parts] if out else parts)
        alternatives = schema.get("oneOf") or schema.get("anyOf")
        if alternatives:
            compiled = [self.node(alt) for alt in alternatives]
            rest = {k: v for k, v in out.items() if k != "type"}
            others = [alt for alt in compiled if alt != {"type": "null"}]
            if len(compiled) == 2 and len(others) == 1 and not rest:
                return _with_null(others[0])  # `X or null`, the spec's usual nullable
            discriminator = (schema.get("discriminator") or {}).get("propertyName")
            union = _build_union(compiled, discriminator)
            if rest and "properties" in rest:
                rest.pop("additionalProperties", None)  # the union's members are allowed
            out = {**rest, "x-union": union}
        return _ordered(out)


def _union_keyword(validator, union: Union, instance, schema):
    kind = json_kind(instance)
    choices = union.by_kind.get(kind)
    if choices is None and kind == "integer":
        choices = union.by_kind.get("number")
    if choices is None:
        choices = union.by_kind.get("*")
    if choices is None:
        yield ValidationError(
            f"expected {union.expected}",
            validator="type",
            validator_value=union.expected,
            instance=instance,
            schema={"x-union": union},
        )
        return
    if isinstance(choices, Dispatch):
        value = instance.get(choices.member, choices.default)
        if value is None:
            yield ValidationError(
                f"'{choices.member}' is a required property",
                validator="required",
                validator_value=[choices.member],
                instance=instance,
            )
            return
        found = choices.mapping.get(value) if isinstance(value, str) else None
        if found is None:
            yield ValidationError(
                f"{value!r} is not one of the supported values",
                validator="enum",
                validator_value=list(choices.mapping),
                instance=value,
                path=deque([choices.member]),
            )
            return
        choices = found
    if len(choices) == 1:
        yield from validator.descend(instance, choices[0])
        return
    best: list | None = None
    for choice in choices:
        errors = list(validator.descend(instance, choice))
        if not errors:
            return
        if best is None or len(errors) < len(best):
            best = errors
    yield from best or ()


RequestSchemaValidator = extend(Draft202012Validator, {"x-union": _union_keyword})


def compile_operations(extract_path: Path = EXTRACT_PATH) -> dict[str, dict]:
    """Compiled root schema of every operation in the extract, by "METHOD /path"."""
    extract = json.loads(extract_path.read_text(encoding="utf-8"))
    compiler = SchemaCompiler(extract["schemas"])
    roots = {operation: name for operation, name in extract["operations"].items()}
    return {operation: compiler.root(name) for operation, name in roots.items()}
