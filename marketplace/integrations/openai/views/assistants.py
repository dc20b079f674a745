"""The OpenAI app's Assistants tab (super admins) and the endpoints of the action's Test
section in the builder (builders; its HTML is test_panel.py's)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from crm.access import account_for
from crm.models import ObjectType, Record
from crm.services import definitions_for
from crm.views.common import parse_id
from marketplace.access import connection_for_manager
from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai.listing import ACTION_KEY, SLUG
from marketplace.integrations.openai.models import OutputFormat, ReasoningEffort, WorkspaceAssistant
from marketplace.integrations.openai.services import models_for_builders
from marketplace.integrations.openai.specs import FieldType, is_reasoning_model
from marketplace.integrations.openai.test_panel import records_for
from marketplace.responses import htmx_redirect
from workflows.outcomes import ActionError
from workflows.services import action_test_run
from workflows.tokens import TokenResolver

FIELD_ROWS = 6
# The type dropdown of a structured output field (FieldType is a plain enum, no labels).
FIELD_TYPE_CHOICES = [
    (FieldType.TEXT.value, gettext_lazy("Text")),
    (FieldType.NUMBER.value, gettext_lazy("Number")),
    (FieldType.BOOLEAN.value, gettext_lazy("Yes/No")),
    (FieldType.ENUMERATION.value, gettext_lazy("Enumeration (one of the options)")),
]


def app_tab_context(connection, listing, tab: str) -> dict:
    """What the app page's header (marketplace/_app_header.html) needs."""
    return {
        "title": listing.name,
        "settings_section": "connected_apps",
        "connection": connection,
        "listing": listing,
        "tab": tab,
        "reconnect_url": reverse(listing.reconnect_url_name),
        "connect_url": reverse(listing.connect_url_name),
    }


class WorkspaceAssistantForm(forms.ModelForm):
    model = forms.ChoiceField(label=gettext_lazy("Model"))
    reasoning_effort = forms.ChoiceField(
        label=gettext_lazy("Reasoning effort"),
        required=False,
        choices=[("", "—"), *ReasoningEffort.choices],
        help_text=gettext_lazy("Only for reasoning models."),
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
        ]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args, model_choices: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(model_choices)
        if self.instance.model and self.instance.model not in choices:
            choices.append(self.instance.model)  # still shown; review_problems flags it
        self.fields["model"].choices = [(m, m) for m in choices]
        self.fields["temperature"].help_text = _(
            "0 to 2. Lower is more predictable, higher more creative. Reasoning models ignore it."
        )

    def clean(self):
        data = super().clean()
        model = data.get("model") or ""
        if is_reasoning_model(model):
            data["temperature"] = None
        else:
            data["reasoning_effort"] = ""
        self.instance.output_fields = self._fields
        return data

    def set_output_fields(self, post) -> None:
        raw = []
        for i in range(FIELD_ROWS):
            raw.append(
                {
                    "name": post.get(f"field-{i}-name", ""),
                    "type": post.get(f"field-{i}-type", FieldType.TEXT),
                    "options": post.get(f"field-{i}-options", "").split(","),
                }
            )
        try:
            self._fields = assistants_mod.output_fields_clean(raw)
        except ValidationError as error:
            self._fields = []
            self.add_error(None, error)
        if (
            post.get("output_format") == OutputFormat.STRUCTURED
            and not self._fields
            and not self.errors
        ):
            self.add_error(None, _("A structured answer needs at least one field."))

    _fields: list[dict] = []


def _field_rows(assistant: WorkspaceAssistant | None, post=None) -> list[dict]:
    rows = []
    existing = list(assistant.output_fields) if assistant else []
    for i in range(FIELD_ROWS):
        if post is not None:
            rows.append(
                {
                    "i": i,
                    "name": post.get(f"field-{i}-name", ""),
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
                    "type": f["type"],
                    "options": ", ".join(f.get("options") or []),
                }
            )
        else:
            rows.append({"i": i, "name": "", "type": "text", "options": ""})
    return rows


@require_http_methods(["GET", "POST"])
def assistants(request: HttpRequest) -> HttpResponse:
    """Workspace assistants, and the account's own assistants (read-only, refreshable)."""
    connection, listing = connection_for_manager(request, SLUG)
    refresh = request.method == "POST" and "refresh" in request.POST
    choices = assistants_mod.assistant_choices(account=connection.account, refresh=refresh)
    if refresh:
        messages.success(request, _("The list of OpenAI account assistants is up to date."))
        return htmx_redirect(request, reverse("marketplace:openai_assistants"))
    context = app_tab_context(connection, listing, "assistants")
    context.update(
        {
            "workspace_assistants": WorkspaceAssistant.objects.for_account(connection.account),
            "choices": choices,
        }
    )
    return render(request, "marketplace_openai/assistants.html", context)


@require_http_methods(["GET", "POST"])
def assistant_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    connection, listing = connection_for_manager(request, SLUG)
    assistant = None
    if pk is not None:
        assistant = get_object_or_404(
            WorkspaceAssistant.objects.for_account(connection.account), pk=pk
        )
    list_url = reverse("marketplace:openai_assistants")
    if request.method == "POST" and ("archive" in request.POST or "restore" in request.POST):
        if assistant is not None:
            if "archive" in request.POST:
                assistants_mod.workspace_assistant_archive(assistant=assistant)
                messages.success(
                    request,
                    _(
                        "The assistant is archived: workflows that use it fail until they choose another one."
                    ),
                )
            else:
                assistants_mod.workspace_assistant_restore(assistant=assistant)
                messages.success(request, _("The assistant is restored."))
        return htmx_redirect(request, list_url)
    instance = assistant or WorkspaceAssistant(account=connection.account)
    form = WorkspaceAssistantForm(
        request.POST if request.method == "POST" else None,
        instance=instance,
        model_choices=models_for_builders(connection) if connection.is_installed else [],
    )
    if request.method == "POST":
        form.set_output_fields(request.POST)
        if form.is_valid():
            assistants_mod.workspace_assistant_save(assistant=form.save(commit=False))
            messages.success(request, _("The assistant is saved."))
            return htmx_redirect(request, list_url)
    context = app_tab_context(connection, listing, "assistants")
    context.update(
        {
            "form": form,
            "assistant": assistant,
            "field_rows": _field_rows(
                assistant, request.POST if request.method == "POST" else None
            ),
            "field_types": FIELD_TYPE_CHOICES,
        }
    )
    return render(request, "marketplace_openai/assistant_form.html", context)


# --- The Test button ------------------------------------------------------------------


def _config_from(request: HttpRequest) -> dict:
    """The action config as the builder posts it: a JSON `config` field, or the form's
    own fields (assistant, prompt, model, temperature, reasoning_effort)."""
    if request.POST.get("config"):
        try:
            config = json.loads(request.POST["config"])
        except ValueError:
            config = {}
        return config if isinstance(config, dict) else {}
    return {
        name: request.POST.get(name, "")
        for name in ("assistant", "prompt", "model", "temperature", "reasoning_effort")
    }


def _test_user_account(request: HttpRequest):
    account = account_for(request)
    if not request.user.can_edit_workflows:
        raise PermissionDenied(
            _(
                "Your role does not allow this: only workflow builders and super admins can test actions."
            )
        )
    return account


@require_POST
def action_test_records(request: HttpRequest) -> HttpResponse:
    """The Test section's record dropdown for a search (`record_q`) among the records
    of `object_type` in the user's account."""
    account = _test_user_account(request)
    object_type = request.POST.get("object_type", "")
    if object_type not in ObjectType.values:
        object_type = ObjectType.CONTACT
    query = " ".join(request.POST.get("record_q", "").split())[:200]
    return render(
        request,
        "marketplace_openai/action_test.html#action-test-records",
        {
            "records": records_for(account, object_type, query),
            "query": query,
        },
    )


@require_POST
def action_test(request: HttpRequest) -> HttpResponse:
    """The builder's **Test**: run the action now on one record of the user's account.

    POST `record` (id) and the config; answers the partial
    `marketplace_openai/action_test.html#action-test-result` (resolved prompt, response
    or error, model, tokens, cost). Nothing is written and the workflow does not run on."""
    account = _test_user_account(request)
    record_id = parse_id(request.POST.get("record"))
    record = Record.objects.filter(account=account, pk=record_id).first() if record_id else None
    if record is None:
        return render(
            request,
            "marketplace_openai/action_test.html#action-test-result",
            {"result": {"prompt": None, "error": _("Choose a record to test with.")}},
        )
    config = _config_from(request)
    resolved_prompt = TokenResolver(
        record=record, definitions=definitions_for(account, record.object_type), earlier_outputs={}
    ).resolve({"prompt": config.get("prompt") or ""})["prompt"]
    result: dict = {"prompt": resolved_prompt, "record": record}
    try:
        outputs = action_test_run(action_key=ACTION_KEY, config=config, record=record)
    except ValidationError as error:
        result["error"] = " ".join(error.messages)
    except ActionError as error:
        result["error"] = error.message
    else:
        usage = outputs.pop("_usage", {})
        result.update(
            {
                "response": outputs.get("response", ""),
                "fields": {
                    k: v
                    for k, v in outputs.items()
                    if k not in ("response", "model", "total_tokens")
                },
                "usage": usage,
            }
        )
    return render(
        request, "marketplace_openai/action_test.html#action-test-result", {"result": result}
    )
