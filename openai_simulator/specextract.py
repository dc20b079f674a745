"""Write `openapi_requests.json`: the request-body schemas of the operations the simulator
serves, taken from OpenAI's openapi.yaml.

    python -m openai_simulator.specextract ../shared/openai-openapi/openapi.yaml

The simulator validates request bodies against this extract rather than the 3 MB YAML
itself: it starts in milliseconds and works where the shared folder is absent (a clean
CI clone). The extract is mechanical — every component schema reachable from each
operation's `requestBody`, without descriptions and examples — so regenerating it after
updating openapi.yaml is the only way to change it; `tests/simulator/test_sim_validation.py`
checks that it still matches the shared spec. How the schemas are read (OpenAPI's
`nullable`, overlapping `oneOf`, objects closed to unknown members) is decided in
`schemacompile.py`, not here.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

EXTRACT_PATH = Path(__file__).with_name("openapi_requests.json")

# (method, path) of every operation with a JSON body the simulator serves.
OPERATIONS = (
    ("post", "/responses"),
    ("post", "/threads"),
    ("post", "/threads/runs"),
    ("post", "/threads/{thread_id}/messages"),
    ("post", "/threads/{thread_id}/runs"),
    ("post", "/batches"),
)
# Keys that only document a schema: dropped to keep the extract small.
ANNOTATIONS = frozenset({"description", "example", "examples", "title", "x-oaiMeta"})


# Keywords whose value maps names (not keywords) to schemas: a member called
# "description" is kept there.
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions"})


def _strip(node: object) -> object:
    if isinstance(node, dict):
        return {
            k: ({n: _strip(s) for n, s in v.items()} if k in _NAMED else _strip(v))
            for k, v in node.items()
            if k not in ANNOTATIONS
        }
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _refs(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def build_extract(spec: dict, source: dict) -> dict:
    components = spec["components"]["schemas"]
    operations: dict[str, str] = {}
    wanted: list[str] = []
    for method, path in OPERATIONS:
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        name = body["schema"]["$ref"].rsplit("/", 1)[1]
        operations[f"{method.upper()} {path}"] = name
        wanted.append(name)
    reachable: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in reachable:
            continue
        reachable.add(name)
        found: set[str] = set()
        _refs(components[name], found)
        wanted.extend(found - reachable)
    return {
        "source": source,
        "operations": operations,
        "schemas": {name: _strip(components[name]) for name in sorted(reachable)},
    }


def read_source_note(spec_path: Path) -> dict:
    """Where the spec came from and its licence, read from the files kept beside it."""
    note = spec_path.with_name("SOURCE.md")
    text = note.read_text(encoding="utf-8") if note.exists() else ""
    commit = re.search(r"\b([0-9a-f]{40})\b", text)
    licence = spec_path.with_name("LICENSE")
    return {
        "repository": "openai/openai-openapi",
        "file": "openapi.yaml",
        "commit": commit.group(1) if commit else None,
        # MIT: the notice travels with substantial portions of the spec.
        "licence": licence.read_text(encoding="utf-8") if licence.exists() else "MIT",
    }


def load_spec(spec_path: Path) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m openai_simulator.specextract")
    parser.add_argument("spec", type=Path, help="path to OpenAI's openapi.yaml")
    parser.add_argument("--output", type=Path, default=EXTRACT_PATH)
    args = parser.parse_args(argv)
    extract = build_extract(load_spec(args.spec), read_source_note(args.spec))
    args.output.write_text(json.dumps(extract, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"{len(extract['schemas'])} schemas for {len(extract['operations'])} operations")


if __name__ == "__main__":
    main()
