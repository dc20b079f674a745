"""The Ask OpenAI assistant step in the workflow builder: the OpenAI section of the action
panel (registered in apps.py), the step's config form with the account's choices, what
saving it checks, its outputs, what the review flags, and how run history names its
inputs. The action type (action.py) hands its builder hooks to these functions.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account
from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai import versions
from marketplace.integrations.openai.models import ReasoningEffort
from marketplace.integrations.openai.services import models_for_builders
from marketplace.integrations.openai.specs import FieldType
from workflows.registry import BuilderSection, Output, OutputType, value_text

SECTION_KEY = "openai"

# --- The section --------------------------------------------------------------------


def connection_problem(account: Account) -> str | None:
    connection = assistants_mod.connection_for_account(account)
    if connection is None or not connection.is_installed:
        return _("OpenAI is not connected to this account.")
    return None


def connect_url(next_path: str) -> str:
    return f"{reverse('marketplace:openai_connect')}?{urlencode({'next': next_path})}"


SECTION = BuilderSection(
    SECTION_KEY,
    gettext_lazy("OpenAI integration"),
    "sparkles",
    order=40,
    connect_label=gettext_lazy("Connect to OpenAI"),
    connection_problem=connection_problem,
    connect_url=connect_url,
)

# --- The config form ------------------------------------------------------------------

BASE_OUTPUTS = (
    Output("response", gettext_lazy("Response"), OutputType.TEXT),
    Output("model", gettext_lazy("Model used"), OutputType.TEXT),
    Output("total_tokens", gettext_lazy("Total tokens"), OutputType.NUMBER),
)

# The run detail's label of the note a cut prompt leaves (run.py; not a step output).
INPUT_NOTE_LABEL = gettext_lazy("Prompt cut")
# ... and of the note a step run on its fallback model leaves (run.py `_fallback_round`).
FALLBACK_NOTE_LABEL = gettext_lazy("Fallback model")

_FIELD_OUTPUT_TYPE = {
    FieldType.TEXT: OutputType.TEXT,
    FieldType.NUMBER: OutputType.NUMBER,
    FieldType.BOOLEAN: OutputType.BOOLEAN,
    FieldType.ENUMERATION: OutputType.TEXT,
}


class AskAssistantForm(forms.Form):
    # Choices are filled by `config_form` from assistants.assistant_choices(); the stored
    # value is "ws:<id>" or "acct:<OpenAI assistant id>".
    assistant = forms.CharField(label=gettext_lazy("Assistant selection"), max_length=120)
    prompt = forms.CharField(label=gettext_lazy("Prompt"), widget=forms.Textarea, max_length=20000)
    model = forms.CharField(
        label=gettext_lazy("Model selection"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Empty: the assistant's own model."),
    )
    temperature = forms.FloatField(
        label=gettext_lazy("Temperature"),
        required=False,
        min_value=0.0,
        max_value=2.0,
        help_text=gettext_lazy(
            "Lower is more predictable, higher more creative. Reasoning models ignore it."
        ),
    )
    reasoning_effort = forms.ChoiceField(
        label=gettext_lazy("Reasoning effort"),
        required=False,
        choices=[("", "—"), *ReasoningEffort.choices],
        help_text=gettext_lazy("Only for reasoning models."),
    )

    max_output_tokens = forms.IntegerField(
        label=gettext_lazy("Max output tokens"),
        required=False,
        min_value=16,
        max_value=200_000,
        help_text=gettext_lazy(
            "A hard cap on the answer (reasoning included). An answer that reaches it fails "
            "the step rather than being cut. Empty: no cap."
        ),
    )
    max_input_chars = forms.IntegerField(
        label=gettext_lazy("Max input characters"),
        required=False,
        min_value=100,
        max_value=1_000_000,
        help_text=gettext_lazy(
            "A longer prompt is cut to this length, with a note to the model; the run "
            "detail says so. Empty: no cap."
        ),
    )
    fallback_model = forms.CharField(
        label=gettext_lazy("Fallback model"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "Runs the step when the chosen model is gone or deprecated, keeps failing with "
            "server errors, or is rate limited for long. Empty: none."
        ),
    )
    # The workspace assistant version the step runs (versions.py): kept across saves of
    # the panel, set at publish or by "Use the latest version".
    assistant_version = forms.IntegerField(
        label=gettext_lazy("Assistant version"), required=False, widget=forms.HiddenInput
    )

    # The builder folds these fields under one disclosure with this label.
    advanced_fields: tuple[str, ...] = ()
    advanced_label: str = ""


def config_form(config: dict[str, Any], *, account: Account) -> AskAssistantForm:
    """The config form with the account's choices: one Assistant selection dropdown
    (workspace and OpenAI account assistants) and the models admins allow."""
    form = AskAssistantForm(initial=config)
    form.fields["assistant"] = forms.ChoiceField(
        label=gettext_lazy("Assistant selection"),
        choices=assistants_mod.assistant_choices(account=account).as_choices(),
    )
    connection = assistants_mod.connection_for_account(account)
    allowed = (
        models_for_builders(connection)
        if connection is not None and connection.is_installed
        else []
    )
    current = (config or {}).get("model") or ""
    if current and current not in allowed:
        allowed = [current, *allowed]  # keep what is saved visible; review flags it
    form.fields["model"] = forms.ChoiceField(
        label=gettext_lazy("Model selection"),
        required=False,
        choices=[("", _("The assistant's own model")), *[(m, m) for m in allowed]],
        help_text=gettext_lazy("Empty: the assistant's own model."),
    )
    fallback = (config or {}).get("fallback_model") or ""
    form.fields["fallback_model"] = forms.ChoiceField(
        label=gettext_lazy("Fallback model"),
        required=False,
        choices=[
            ("", _("None")),
            *[(m, m) for m in ([fallback] if fallback and fallback not in allowed else [])],
            *[(m, m) for m in allowed],
        ],
        help_text=AskAssistantForm.base_fields["fallback_model"].help_text,
    )
    form.advanced_fields = (
        "model",
        "fallback_model",
        "temperature",
        "reasoning_effort",
        "max_output_tokens",
        "max_input_chars",
    )
    form.advanced_label = _("Advanced API parameters")
    return form


def config_check(clean: dict[str, Any], *, account: Account) -> dict[str, Any]:
    """What saving a step checks beyond its form: an assistant of the account (archived
    ones still save: review flags them), an allowed model. Returns the config."""
    selection = assistants_mod.selection_parse(clean.get("assistant"))
    if selection is None:
        raise ValidationError(_("Choose an assistant."))
    if (
        selection.kind == assistants_mod.WORKSPACE
        and assistants_mod.workspace_assistant_for(account, selection, include_archived=True)
        is None
    ):
        raise ValidationError(_("Choose an assistant."))
    clean = versions.config_pin_check(clean, account=account)
    for name in ("model", "fallback_model"):
        model = (clean.get(name) or "").strip()
        clean[name] = model
        if model:
            connection = assistants_mod.connection_for_account(account)
            if (
                connection is not None
                and connection.is_installed
                and model not in models_for_builders(connection)
            ):
                raise ValidationError(
                    _("The model “%(model)s” is not allowed for workflows. Choose another one.")
                    % {"model": model}
                )
    return clean


def step_outputs(config: dict[str, Any], account: Account) -> tuple[Output, ...]:
    """Response, model and tokens, plus the fields of the workspace assistant's version
    the step pins (its newest when it pins none yet)."""
    found = versions.step_version(account, config)
    if found is None:
        return BASE_OUTPUTS
    assistant, version = found
    fields = versions.snapshot_fields(version.snapshot) if version else assistant.fields()
    return BASE_OUTPUTS + tuple(
        Output(f.name, f.shown_label, _FIELD_OUTPUT_TYPE[f.type]) for f in fields
    )


def step_problems(config: dict[str, Any], account: Account) -> list[str]:
    """What stops this step from running (its section reports "not connected")."""
    problems: list[str] = []
    connection = assistants_mod.connection_for_account(account)
    if connection is not None and connection.is_installed and connection.needs_attention:
        problems.append(_("The OpenAI app needs attention: reconnect it with a valid key."))
    selection = assistants_mod.selection_parse((config or {}).get("assistant"))
    assistant = None
    if selection is None:
        problems.append(_("No assistant is selected."))
    elif selection.kind == assistants_mod.WORKSPACE:
        assistant = assistants_mod.workspace_assistant_for(
            account, selection, include_archived=True
        )
        if assistant is None:
            problems.append(_("The selected assistant was deleted."))
        elif assistant.is_archived:
            problems.append(_("The assistant “%(name)s” is archived.") % {"name": assistant.name})
    elif connection is not None and connection.is_installed:
        choices = assistants_mod.assistant_choices(account=account)
        if not choices.account_available:
            problems.append(
                _("OpenAI account assistants are not available: %(why)s")
                % {"why": choices.account_note or "—"}
            )
        elif selection.value not in dict(choices.account):
            problems.append(_("The selected OpenAI assistant no longer exists."))
    if connection is not None and connection.is_installed:
        allowed = set(models_for_builders(connection))
        for model in {(config or {}).get("model") or "", assistant.model if assistant else ""}:
            if model and model not in allowed:
                problems.append(_("The model “%(model)s” is no longer allowed.") % {"model": model})
    return problems


# --- Run history ------------------------------------------------------------------------


def config_shown(
    config: dict[str, Any], *, names: dict[str, str], numbers: dict[int, int] | None = None
) -> dict[str, Any]:
    """The config as run history shows it, in the builder's words: the assistant's name
    (`names`: stored selection → name) rather than `ws:12`, "The assistant's own model"
    for an empty model, the version pinned as "v3" (`numbers`: version id → number), the reasoning effort's label (nothing when empty, not the
    dropdown's "—"), the temperature as a number."""
    shown: dict[str, Any] = {}
    if "assistant" in config:
        value = config["assistant"]
        shown["assistant"] = names.get(value, value) if isinstance(value, str) else value
    pin = config.get(versions.CONFIG_KEY)
    if isinstance(pin, int) and numbers and pin in numbers:
        shown[versions.CONFIG_KEY] = f"v{numbers[pin]}"
    if "model" in config and not config["model"]:
        shown["model"] = _("The assistant's own model")
    if "temperature" in config:
        shown["temperature"] = _number_text(config["temperature"])
    if "reasoning_effort" in config:
        effort = config["reasoning_effort"]
        if not effort:
            shown["reasoning_effort"] = None  # shown empty, as every empty input
        elif effort in ReasoningEffort.values:
            shown["reasoning_effort"] = str(ReasoningEffort(effort).label)
    return {**config, **shown}


def _number_text(value: Any) -> str:
    """A stored temperature as a number ("0.2", "1"); as stored if it is not one."""
    if value in (None, ""):
        return ""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return value_text(value)
