"""Data tokens in action config: `{{ object.<property> }}`, `{{ actions.<step>.<output> }}`
and `{{ associated.<object type>.<property> }}` (a property of the enrolled record's
first associated record of that type, e.g. a deal's contact: `associated.contact.email`).

<step> is the step's stable id (see workflows/models.py), not its position, so moving a
step keeps every token pointing at it. A fallback for a missing value:
`{{ object.first_name | default:"there" }}`. A missing property, step or output
renders empty (or the fallback); resolution never raises. Values are plain text:
whoever renders them as HTML escapes them. A resolver `withholding_sensitive()` (what
an action sending data to an AI app uses) gives WITHHELD for a sensitive property, and
one `capping_properties(n)` cuts a property's value to n characters (a visitor's form
answer can be 65,535 characters long; the AI action caps them at
PROMPT_PROPERTY_MAX_CHARS).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from crm import properties as props
from crm.models import WITHHELD, PropertyDefinition, Record

TOKEN = re.compile(
    r"\{\{\s*(?P<root>object|actions|associated)\.(?P<path>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)\s*"
    r"(?:\|\s*default\s*:\s*\"(?P<default>[^\"]*)\"\s*)?\}\}"
)

# What the model reads where a property's value was cut (`capping_properties`).
PROPERTY_CUT_NOTE = " [… {cut} more characters cut]"


class TokenResolver:
    def __init__(
        self,
        *,
        record: Record,
        definitions: dict[str, PropertyDefinition],
        earlier_outputs: dict[int, dict[str, Any]],
    ):
        self.record = record
        self.definitions = definitions
        self.earlier_outputs = earlier_outputs
        self._associated: dict[str, tuple[Record | None, dict[str, PropertyDefinition]]] = {}
        self.withhold_sensitive = False
        self.property_max_chars = 0

    def capping_properties(self, max_chars: int) -> TokenResolver:
        """A copy that cuts each property's value to `max_chars` characters, with a note
        saying how many were left out (0: no cap). Step outputs are not cut."""
        capping = copy.copy(self)
        capping.property_max_chars = max_chars
        return capping

    def withholding_sensitive(self) -> TokenResolver:
        """A copy that resolves a sensitive property (Settings › AI data) to WITHHELD."""
        withholding = copy.copy(self)
        withholding.withhold_sensitive = True
        return withholding

    def _associated_record(
        self, object_type: str
    ) -> tuple[Record | None, dict[str, PropertyDefinition]]:
        """(record, definitions) of the first record of `object_type` associated with
        the enrolled record, or (None, {})."""
        if object_type not in self._associated:
            from crm.services import associated_records, definitions_for

            other = (
                associated_records(self.record, object_type).order_by("pk").first()
                if self.record.pk
                else None
            )
            self._associated[object_type] = (
                (other, definitions_for(other.account, object_type)) if other else (None, {})
            )
        return self._associated[object_type]

    def _property(
        self, record: Record, definitions: dict[str, PropertyDefinition], name: str
    ) -> str:
        definition = definitions.get(name)
        if definition is None:
            return ""
        if self.withhold_sensitive and definition.sensitive:
            return WITHHELD
        try:
            text = props.token_text(definition, record.properties.get(name))
        except (ValueError, TypeError):  # a malformed stored value must not crash a run
            return ""
        cap = self.property_max_chars
        if cap and len(text) > cap:
            return text[:cap] + PROPERTY_CUT_NOTE.format(cut=len(text) - cap)
        return text

    def value(self, root: str, path: str) -> str:
        if root == "object":
            name = path.split(".")[0]
            if name == "id":
                return str(self.record.pk)
            return self._property(self.record, self.definitions, name)
        if root == "associated":
            object_type, _, name = path.partition(".")
            other, definitions = self._associated_record(object_type)
            return self._property(other, definitions, name) if other is not None else ""
        step, _, output = path.partition(".")
        if not step.isdigit() or not output:
            return ""
        value = self.earlier_outputs.get(int(step), {}).get(output)
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def render(self, text: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            value = self.value(match["root"], match["path"])
            if value == "" and match["default"] is not None:
                return match["default"]
            return value

        return TOKEN.sub(substitute, text)

    def resolve(self, config: Any, *, skip: frozenset[str] = frozenset()) -> Any:
        """A copy of `config` with tokens rendered in every string (except `skip` keys)."""
        if isinstance(config, str):
            return self.render(config) if "{{" in config else config
        if isinstance(config, list):
            return [self.resolve(item) for item in config]
        if isinstance(config, dict):
            return {
                key: value if key in skip else self.resolve(value) for key, value in config.items()
            }
        return config


def tokens_in(text: str) -> list[tuple[str, str]]:
    """(root, path) of every token in `text` — for the builder's checks."""
    return [(m["root"], m["path"]) for m in TOKEN.finditer(text or "")]
