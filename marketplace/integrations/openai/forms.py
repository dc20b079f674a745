"""The OpenAI app's forms: the API key (connect, reconnect), Model access, a workspace
assistant (Assistants tab), a price and a budget (Usage tab). The Ask step's config form
is the builder's (builder.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai.endpoints import URL_MAX_LENGTH, Endpoint
from marketplace.integrations.openai.models import (
    BudgetUnit,
    EndpointKind,
    ModelPrice,
    OutputFormat,
    ReasoningEffort,
    WorkspaceAssistant,
)
from marketplace.integrations.openai.specs import FieldType, is_reasoning_model
from marketplace.integrations.openai.tools import tool_choices
from workflows.models import Workflow

# Real keys are ~50–170 characters; anything far longer is a paste gone wrong.
API_KEY_MAX_LENGTH = 400


class ApiKeyForm(forms.Form):
    endpoint_kind = forms.ChoiceField(
        label=gettext_lazy("Where calls go"),
        choices=EndpointKind.choices,
        initial=EndpointKind.OPENAI,
        required=False,  # left out: OpenAI
        widget=forms.RadioSelect,
    )
    endpoint_url = forms.CharField(
        label=gettext_lazy("Address"),
        required=False,
        strip=True,
        max_length=URL_MAX_LENGTH,
        widget=forms.URLInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "url"}
        ),
        help_text=gettext_lazy(
            "Azure OpenAI: your resource’s address, e.g. https://my-resource.openai.azure.com. "
            "OpenAI-compatible server: its base URL, e.g. https://llm.example.com/v1. "
            "Not needed for OpenAI."
        ),
    )
    # PasswordInput never renders the value back, so a refused key is not echoed into
    # the page that explains why it was refused.
    api_key = forms.CharField(
        label=gettext_lazy("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "sk-…"},
        ),
        help_text=gettext_lazy("Optional for an OpenAI-compatible server that needs none."),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, endpoint: Endpoint | None = None, **kwargs: Any) -> None:
        if endpoint is not None:
            kwargs.setdefault("initial", {})
            kwargs["initial"].setdefault("endpoint_kind", endpoint.kind)
            kwargs["initial"].setdefault("endpoint_url", endpoint.url)
        super().__init__(*args, **kwargs)

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint chosen (after is_valid())."""
        kind = self.cleaned_data["endpoint_kind"]
        url = self.cleaned_data.get("endpoint_url", "") if kind != EndpointKind.OPENAI else ""
        return Endpoint(kind=kind, url=url)

    def clean_endpoint_kind(self) -> str:
        return self.cleaned_data["endpoint_kind"] or EndpointKind.OPENAI

    def clean_endpoint_url(self) -> str:
        url: str = self.cleaned_data["endpoint_url"]
        kind = self.cleaned_data.get("endpoint_kind")
        if kind == EndpointKind.OPENAI:
            return ""
        if not url:
            raise forms.ValidationError(
                gettext_lazy("Enter the address of your Azure OpenAI resource.")
                if kind == EndpointKind.AZURE
                else gettext_lazy("Enter the base URL of your OpenAI-compatible server.")
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError(
                gettext_lazy("Enter the full address, starting with https://.")
            )
        if kind == EndpointKind.AZURE:
            # The resource, not a path inside it: crmflow adds /openai/v1 itself.
            return f"{parts.scheme}://{parts.netloc}"
        return url.rstrip("/")

    def clean_api_key(self) -> str:
        key: str = self.cleaned_data["api_key"]
        if not key:
            if self.cleaned_data.get("endpoint_kind") == EndpointKind.COMPATIBLE:
                return ""
            raise forms.ValidationError(
                gettext_lazy("Paste your Azure OpenAI key.")
                if self.cleaned_data.get("endpoint_kind") == EndpointKind.AZURE
                else gettext_lazy("Paste your OpenAI API key.")
            )
        if len(key) > API_KEY_MAX_LENGTH:
            raise forms.ValidationError(
                gettext_lazy(
                    "This is too long to be an OpenAI API key. Copy the key again and paste "
                    "only the key."
                )
            )
        if any(char.isspace() for char in key) or not key.isprintable() or not key.isascii():
            raise forms.ValidationError(
                gettext_lazy(
                    "An OpenAI API key has no spaces, line breaks or special characters. "
                    "Copy the key again and paste only the key."
                )
            )
        return key


class ConnectForm(ApiKeyForm):
    """The install dialog: the key and endpoint, and a monthly budget for the whole
    connection, proposed at OPENAI_DEFAULT_MONTHLY_BUDGET_USD (a fresh connection is
    never open-ended by accident; clearing the field is a choice)."""

    monthly_budget_usd = forms.DecimalField(
        label=gettext_lazy("Monthly budget (US dollars)"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text=gettext_lazy(
            "Workflows stop calling OpenAI for the rest of the month once this much is "
            "spent. Change it later under Usage; leave it empty for no limit."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        default = settings.OPENAI_DEFAULT_MONTHLY_BUDGET_USD
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("monthly_budget_usd", default or None)
        super().__init__(*args, **kwargs)


class ModelAccessForm(forms.Form):
    models = forms.MultipleChoiceField(
        label=gettext_lazy("Models workflow builders can select"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["models"]).choices = [(m, m) for m in choices]


# --- A workspace assistant ------------------------------------------------------------

# Rows of structured output fields the form offers.
FIELD_ROWS = 6
# The type dropdown of a structured output field (FieldType is a plain enum, no labels).
FIELD_TYPE_CHOICES = [
    (FieldType.TEXT.value, gettext_lazy("Text")),
    (FieldType.NUMBER.value, gettext_lazy("Number")),
    (FieldType.BOOLEAN.value, gettext_lazy("Yes/No")),
    (FieldType.ENUMERATION.value, gettext_lazy("Enumeration (one of the options)")),
]


DEFAULT_TOOL_ROUNDS = 5


class WorkspaceAssistantForm(forms.ModelForm):
    model = forms.ChoiceField(label=gettext_lazy("Model"))
    reasoning_effort = forms.ChoiceField(
        label=gettext_lazy("Reasoning effort"),
        required=False,
        choices=[("", "—"), *ReasoningEffort.choices],
        help_text=gettext_lazy("Only for reasoning models."),
    )
    tools = forms.MultipleChoiceField(
        label=gettext_lazy("CRM tools"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=tool_choices,
        help_text=gettext_lazy(
            "What the assistant may look up in the CRM while it answers, read-only, in the "
            "account the workflow runs in. Sensitive properties are withheld (Settings › AI data)."
        ),
    )
    # Not stored on the assistant: the note of the version this save makes.
    note = forms.CharField(
        label=gettext_lazy("Version note"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Optional: what changed and why (shown in the version history)."),
    )

    class Meta:
        model = WorkspaceAssistant
        fields = [
            "name",
            "instructions",
            "model",
            "temperature",
            "reasoning_effort",
            "output_format",
            "tools",
            "max_tool_rounds",
        ]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args: Any, model_choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = list(model_choices)
        if self.instance.model and self.instance.model not in choices:
            choices.append(self.instance.model)  # still shown; review_problems flags it
        cast(forms.ChoiceField, self.fields["model"]).choices = [(m, m) for m in choices]
        # Blank keeps the default (a form posted without it, e.g. by an older page).
        self.fields["max_tool_rounds"].required = False
        self.fields["max_tool_rounds"].help_text = _(
            "Model requests one step may make while it calls tools (1 to 10); the last "
            "one must answer."
        )
        self.fields["temperature"].help_text = _(
            "0 to 2. Lower is more predictable, higher more creative. Reasoning models ignore it."
        )
        self._fields: list[dict[str, Any]] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("max_tool_rounds") is None:
            data["max_tool_rounds"] = self.instance.max_tool_rounds or DEFAULT_TOOL_ROUNDS
        model = data.get("model") or ""
        if is_reasoning_model(model):
            data["temperature"] = None
        else:
            data["reasoning_effort"] = ""
        self.instance.output_fields = self._fields
        return data

    def set_output_fields(self, post: QueryDict) -> None:
        """Read the structured output fields' rows (`field-<i>-name|label|type|options`)."""
        raw = []
        for i in range(FIELD_ROWS):
            raw.append(
                {
                    "name": post.get(f"field-{i}-name", ""),
                    "label": post.get(f"field-{i}-label", ""),
                    "type": post.get(f"field-{i}-type", FieldType.TEXT),
                    "options": post.get(f"field-{i}-options", "").split(","),
                }
            )
        try:
            self._fields = assistants_mod.output_fields_clean(raw)
        except forms.ValidationError as error:
            self._fields = []
            self.add_error(None, error)
        if (
            post.get("output_format") == OutputFormat.STRUCTURED
            and not self._fields
            and not self.errors
        ):
            self.add_error(None, _("A structured answer needs at least one field."))


def field_rows(
    assistant: WorkspaceAssistant | None, post: QueryDict | None = None
) -> list[dict[str, Any]]:
    """The structured output fields' rows to show: as posted, else the assistant's."""
    rows = []
    existing = list(assistant.output_fields) if assistant else []
    for i in range(FIELD_ROWS):
        if post is not None:
            rows.append(
                {
                    "i": i,
                    "name": post.get(f"field-{i}-name", ""),
                    "label": post.get(f"field-{i}-label", ""),
                    "type": post.get(f"field-{i}-type", "text"),
                    "options": post.get(f"field-{i}-options", ""),
                }
            )
        elif i < len(existing):
            f = existing[i]
            rows.append(
                {
                    "i": i,
                    "name": f["name"],
                    "label": f.get("label") or "",
                    "type": f["type"],
                    "options": ", ".join(f.get("options") or []),
                }
            )
        else:
            rows.append({"i": i, "name": "", "label": "", "type": "text", "options": ""})
    return rows


# --- Usage tab ----------------------------------------------------------------------


class PriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = ["model", "input", "cached_input", "output"]


class BudgetForm(forms.Form):
    workflow = forms.TypedChoiceField(
        label=gettext_lazy("Applies to"), required=False, coerce=int, empty_value=None
    )
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=BudgetUnit.choices)
    monthly_limit = forms.DecimalField(
        label=gettext_lazy("Monthly limit"),
        min_value=Decimal(0),
        max_digits=16,
        decimal_places=4,
        required=False,
        help_text=gettext_lazy("Empty removes the budget."),
    )

    def __init__(self, *args: Any, workflows: list[Workflow], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["workflow"]).choices = [
            ("", _("The whole OpenAI connection")),
            *[(w.pk, w.name) for w in workflows],
        ]
