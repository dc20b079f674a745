"""Versions of a workspace assistant: what it sends to OpenAI, frozen per save.

What must stay true:
- A version is immutable. Saving an assistant adds version N+1 only when what is sent
  to OpenAI changed (`SNAPSHOT_FIELDS`); a restore adds a new version with an old
  snapshot, it never rewrites history.
- A published workflow's Ask step pins one version (`assistant_version` in its config,
  added at publish by `config_pin`, the action type's publish hook); its runs send that
  version's snapshot, whatever the assistant became since. The draft keeps the pin, so
  republishing never adopts a newer version unless the builder chose to ("Use the
  latest version").
- An assistant created outside the save service (the demo, a template, a test) gets its
  version 1 the first time one is needed (`version_current`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.audit import AuditAction, audit_record
from crm.models import Account
from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai.models import (
    AssistantVersion,
    OutputFormat,
    ReasoningEffort,
    WorkspaceAssistant,
)
from marketplace.integrations.openai.specs import AssistantSpec, FieldType, OutputField
from marketplace.integrations.openai.tools import TOOLS

# Everything of a workspace assistant that is sent to OpenAI, in the order the diff
# shows it. Each name is an attribute of WorkspaceAssistant that `version_snapshot`
# reads and `snapshot_apply` writes back; a setting that joins what is sent (tools,
# data settings) adds its name here and is then versioned, diffed and restored.
SNAPSHOT_FIELDS: tuple[str, ...] = (
    "instructions",
    "model",
    "temperature",
    "reasoning_effort",
    "output_format",
    "output_fields",
    "tools",
    "max_tool_rounds",
)

# The diff's labels for the settings shown as "old → new" (instructions and output
# fields have views of their own). A field missing here is shown by its name.
SETTING_LABELS = {
    "model": gettext_lazy("Model"),
    "temperature": gettext_lazy("Temperature"),
    "reasoning_effort": gettext_lazy("Reasoning effort"),
    "output_format": gettext_lazy("Output format"),
    "tools": gettext_lazy("CRM tools"),
    "max_tool_rounds": gettext_lazy("Maximum rounds"),
}

CONFIG_KEY = "assistant_version"


def version_snapshot(assistant: WorkspaceAssistant) -> dict[str, Any]:
    """What `assistant` sends to OpenAI now (JSON-ready)."""
    snapshot = {name: getattr(assistant, name) for name in SNAPSHOT_FIELDS}
    if snapshot["output_format"] != OutputFormat.STRUCTURED:
        snapshot["output_fields"] = []
    return snapshot


def snapshot_apply(assistant: WorkspaceAssistant, snapshot: dict[str, Any]) -> None:
    """Set `assistant`'s sent settings to `snapshot` (not saved)."""
    for name in SNAPSHOT_FIELDS:
        if name in snapshot:
            setattr(assistant, name, snapshot[name])


def snapshot_fields(snapshot: dict[str, Any]) -> tuple[OutputField, ...]:
    """The structured output fields of a snapshot (empty for a text answer)."""
    if snapshot.get("output_format") != OutputFormat.STRUCTURED:
        return ()
    return tuple(
        OutputField(
            f["name"],
            FieldType(f["type"]),
            tuple(f.get("options") or ()),
            label=f.get("label") or "",
        )
        for f in snapshot.get("output_fields") or []
    )


def snapshot_spec(snapshot: dict[str, Any], *, name: str) -> AssistantSpec:
    """The assistant a run sends, from a version's snapshot."""
    return AssistantSpec(
        model=snapshot.get("model") or "",
        instructions=snapshot.get("instructions") or "",
        temperature=snapshot.get("temperature"),
        reasoning_effort=snapshot.get("reasoning_effort") or None,
        output_fields=snapshot_fields(snapshot),
        name=name,
        # A version saved before tools existed has none.
        tools=tuple(t for t in snapshot.get("tools") or () if t in TOOLS),
        max_tool_rounds=int(snapshot.get("max_tool_rounds") or 5),
    )


# --- Recording ---------------------------------------------------------------------


def _version_add(
    assistant: WorkspaceAssistant, snapshot: dict[str, Any], *, user: Any, note: str
) -> AssistantVersion:
    """Called inside the saving transaction; each new version is an edit the audit log
    records (the first version, recorded when an assistant is first read, is not)."""
    number = (assistant.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    if getattr(user, "pk", None):
        audit_record(
            action=AuditAction.ASSISTANT_CHANGED,
            actor=user,
            account=assistant.account,
            target=assistant.name,
            detail={"version": number, **({"note": note[:200]} if note else {})},
        )
    return AssistantVersion.objects.create(
        assistant=assistant,
        number=number,
        snapshot=snapshot,
        note=note[:200],
        created_by=user if getattr(user, "pk", None) else None,
    )


def workspace_assistant_save(
    *, assistant: WorkspaceAssistant, user: Any = None, note: str = ""
) -> AssistantVersion | None:
    """Save a workspace assistant (create or edit): the new version it makes when what
    is sent to OpenAI changed, None when it did not."""
    if assistant.output_format != OutputFormat.STRUCTURED:
        assistant.output_fields = []
    with transaction.atomic():
        assistant.save()
        return assistant_version_record(assistant=assistant, user=user, note=note)


def assistant_version_record(
    *, assistant: WorkspaceAssistant, user: Any = None, note: str = ""
) -> AssistantVersion | None:
    """After a save: a new version when what is sent to OpenAI changed (None when it did
    not). The assistant's row is locked, so two saves never take the same number."""
    with transaction.atomic():
        WorkspaceAssistant.objects.select_for_update().filter(pk=assistant.pk).first()
        snapshot = version_snapshot(assistant)
        latest = assistant.versions.order_by("-number").first()
        if latest is not None and latest.snapshot == snapshot:
            return None
        return _version_add(assistant, snapshot, user=user, note=note)


def version_current(assistant: WorkspaceAssistant) -> AssistantVersion:
    """The newest version; version 1 is recorded first when the assistant has none."""
    latest = assistant.versions.order_by("-number").first()
    if latest is not None:
        return latest
    try:
        with transaction.atomic():
            return _version_add(assistant, version_snapshot(assistant), user=None, note="")
    except IntegrityError:  # recorded at the same moment by another process
        return assistant.versions.order_by("-number").first() or version_current(assistant)


def assistant_version_restore(*, version: AssistantVersion, user: Any) -> AssistantVersion:
    """Make an old version the newest: the assistant takes its settings back and a new
    version records them (the history keeps every version in between)."""
    assistant = version.assistant
    snapshot_apply(assistant, version.snapshot)
    assistant.save()
    restored = assistant_version_record(
        assistant=assistant,
        user=user,
        note=_("Restored from v%(number)s") % {"number": version.number},
    )
    return restored or version_current(assistant)


# --- Pins --------------------------------------------------------------------------


def pinned_version(
    account: Account, config: dict[str, Any], *, assistant: WorkspaceAssistant | None = None
) -> AssistantVersion | None:
    """The version a step's config pins, if it pins one of its selected workspace
    assistant (a pin of another assistant counts as none)."""
    raw = (config or {}).get(CONFIG_KEY)
    if raw in (None, "") or not str(raw).isdigit():
        return None
    if assistant is None:
        selection = assistants_mod.selection_parse((config or {}).get("assistant"))
        if selection is None:
            return None
        assistant = assistants_mod.workspace_assistant_for(
            account, selection, include_archived=True
        )
        if assistant is None:
            return None
    return (
        AssistantVersion.objects.filter(assistant=assistant, pk=int(str(raw)))
        .select_related("assistant")
        .first()
    )


def config_pin_check(config: dict[str, Any], *, account: Account) -> dict[str, Any]:
    """Saving a step: keep a pin of the selected assistant, drop any other."""
    clean = dict(config)
    version = pinned_version(account, clean)
    if version is None:
        clean.pop(CONFIG_KEY, None)
    else:
        clean[CONFIG_KEY] = version.pk
    return clean


def config_pin(config: dict[str, Any], *, account: Account) -> dict[str, Any]:
    """Publishing a step: its pin stays; a step without one pins the newest version of
    its workspace assistant (an account assistant has no versions here)."""
    selection = assistants_mod.selection_parse((config or {}).get("assistant"))
    if selection is None or selection.kind != assistants_mod.WORKSPACE:
        return {k: v for k, v in config.items() if k != CONFIG_KEY}
    assistant = assistants_mod.workspace_assistant_for(account, selection, include_archived=True)
    if assistant is None:
        return config
    version = pinned_version(account, config, assistant=assistant) or version_current(assistant)
    return {**config, CONFIG_KEY: version.pk}


def step_version(
    account: Account, config: dict[str, Any]
) -> tuple[WorkspaceAssistant, AssistantVersion | None] | None:
    """A step's workspace assistant and the version it pins (None: not pinned yet, it
    runs the newest); None for anything else."""
    selection = assistants_mod.selection_parse((config or {}).get("assistant"))
    if selection is None or selection.kind != assistants_mod.WORKSPACE:
        return None
    assistant = assistants_mod.workspace_assistant_for(account, selection, include_archived=True)
    if assistant is None:
        return None
    return assistant, pinned_version(account, config, assistant=assistant)


def version_numbers(configs: list[dict[str, Any]]) -> dict[int, int]:
    """Version id → number for the versions these step configs pin, in one query."""
    ids = {pin for c in configs if isinstance(pin := c.get(CONFIG_KEY), int)}
    if not ids:
        return {}
    return dict(AssistantVersion.objects.filter(pk__in=ids).values_list("pk", "number"))


def version_field_labels(configs: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    """Version id → its structured fields' labels (name → label) for the versions
    these step configs pin, in one query."""
    ids = {pin for c in configs if isinstance(pin := c.get(CONFIG_KEY), int)}
    if not ids:
        return {}
    return {
        pk: {f.name: f.shown_label for f in snapshot_fields(snapshot)}
        for pk, snapshot in AssistantVersion.objects.filter(pk__in=ids).values_list(
            "pk", "snapshot"
        )
    }


# --- Diffs -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str  # "" when added
    new: str  # "" when removed
    status: str  # "added" | "removed" | "retyped" | "options" | "same"


@dataclass
class VersionDiff:
    # (kind, line): kind is " ", "+" or "-" (difflib's ndiff without its hints).
    instructions: list[tuple[str, str]] = field(default_factory=list)
    settings: list[tuple[str, str, str]] = field(default_factory=list)  # label, old, new
    fields: list[FieldChange] = field(default_factory=list)

    @property
    def instructions_changed(self) -> bool:
        return any(kind != " " for kind, _line in self.instructions)

    @property
    def fields_changed(self) -> bool:
        return any(change.status != "same" for change in self.fields)

    @property
    def is_empty(self) -> bool:
        return not (self.instructions_changed or self.settings or self.fields_changed)


# A field's type in words (the diff, the steps a change breaks); an enumeration is
# shown as its options.
FIELD_TYPE_WORDS: dict[str, Any] = {
    FieldType.TEXT.value: gettext_lazy("text"),
    FieldType.NUMBER.value: gettext_lazy("number"),
    FieldType.BOOLEAN.value: gettext_lazy("yes/no"),
}


def _field_text(spec: dict[str, Any]) -> str:
    if spec.get("options"):
        return ", ".join(str(o) for o in spec["options"])
    kind = str(spec.get("type", ""))
    return str(FIELD_TYPE_WORDS.get(kind, kind))


def _shown(value: Any, name: str = "") -> str:
    """A setting's value as people read it: choices by their labels, CRM tools by
    theirs."""
    if isinstance(value, list):  # CRM tools
        return ", ".join(str(TOOLS[v].label) if v in TOOLS else str(v) for v in value) or "—"
    if value in (None, ""):
        return "—"
    choices = {"reasoning_effort": ReasoningEffort, "output_format": OutputFormat}.get(name)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return str(value)


def versions_diff(old: dict[str, Any], new: dict[str, Any]) -> VersionDiff:
    """What changed from snapshot `old` to `new`: the instructions line by line, the
    other settings as old → new, the output fields as a table."""
    diff = VersionDiff()
    old_lines = (old.get("instructions") or "").splitlines()
    new_lines = (new.get("instructions") or "").splitlines()
    diff.instructions = [
        (line[0], line[2:]) for line in difflib.ndiff(old_lines, new_lines) if line[0] in " +-"
    ]
    for name in SNAPSHOT_FIELDS:
        if name in ("instructions", "output_fields"):
            continue
        if old.get(name) != new.get(name):
            label = str(SETTING_LABELS.get(name, name))
            diff.settings.append((label, _shown(old.get(name), name), _shown(new.get(name), name)))
    old_fields = {f.name: f for f in snapshot_fields(old)}
    new_fields = {f.name: f for f in snapshot_fields(new)}
    raw_old = {f["name"]: f for f in old.get("output_fields") or []}
    raw_new = {f["name"]: f for f in new.get("output_fields") or []}
    for name in [*old_fields, *[n for n in new_fields if n not in old_fields]]:
        before, after = old_fields.get(name), new_fields.get(name)
        if before is None:
            status = "added"
        elif after is None:
            status = "removed"
        elif before.type != after.type:
            status = "retyped"
        elif before.choices != after.choices:
            status = "options"
        elif before.label != after.label:
            status = "relabelled"
        else:
            status = "same"
        diff.fields.append(
            FieldChange(
                name,
                _field_text(raw_old[name]) if before else "",
                _field_text(raw_new[name]) if after else "",
                status,
            )
        )
    return diff


def fields_broken(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """Output fields of `old` that a step reading them loses in `new`: removed, of
    another type, or with other options (a branch comparing with an option that is gone
    would quietly take "none met") — name → why, in words."""
    broken = {}
    for change in versions_diff(old, new).fields:
        if change.status == "removed":
            broken[change.name] = _("“%(name)s” is removed") % {"name": change.name}
        elif change.status == "retyped":
            broken[change.name] = _("“%(name)s” is now %(type)s, was %(old)s") % {
                "name": change.name,
                "type": change.new,
                "old": change.old,
            }
        elif change.status == "options":
            broken[change.name] = _("“%(name)s” now has the options %(type)s, was %(old)s") % {
                "name": change.name,
                "type": change.new,
                "old": change.old,
            }
    return broken
