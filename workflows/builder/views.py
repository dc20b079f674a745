"""The builder page: the canvas and its panels (criteria, add action, action config,
delete confirmation) and the data-variable picker. Each panel view renders the whole
page with that panel open, or just `#panel` for htmx; an edit also triggers
"canvas-changed", on which the canvas reloads itself."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from crm.access import require_account
from crm.filters import OPERATOR_LABELS
from crm.models import PropertyDefinition
from crm.services import definitions_for
from workflows import registry
from workflows.access import BuilderRequest, workflow_for
from workflows.builder import actions, canvas, picker
from workflows.builder import criteria_panel as criteria_form
from workflows.builder.canvas_context import canvas_context, chips_html, graph_edit, users_by_id
from workflows.models import Workflow
from workflows.registry import ActionType

PAGE = "workflows/builder.html"


def _render(
    request: BuilderRequest,
    workflow: Workflow,
    *,
    panel: dict[str, Any] | None = None,
    changed: bool = False,
    status: int = 200,
    target: str = "panel",
) -> HttpResponse:
    context = canvas_context(request, workflow, definitions=(panel or {}).get("definitions"))
    context["panel"] = panel or {}
    if request.htmx:
        response = render(request, f"{PAGE}#{target}", context, status=status)
    else:
        response = render(request, PAGE, context, status=status)
    if changed:
        trigger_client_event(response, "canvas-changed")
    return response


@require_GET
@require_account
def builder(request: BuilderRequest, pk: int) -> HttpResponse:
    workflow = workflow_for(request, pk)
    target = "canvas" if request.htmx and request.htmx.target == "canvas" else "panel"
    return _render(request, workflow, target=target)


# --- Enrollment criteria ---------------------------------------------------------------


def _trigger_html(request: BuilderRequest, workflow: Workflow, key: str) -> str:
    """The chosen app trigger's settings for the trigger panel (its URL, …)."""
    trigger = registry.trigger_type(key) if key else None
    return trigger.panel_html(workflow, request=request) if trigger is not None else ""


@require_http_methods(["GET", "POST"])
@require_account
def criteria_panel(request: BuilderRequest, pk: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=request.method == "POST")
    definitions = definitions_for(workflow.account, workflow.object_type)
    if request.method == "GET":
        state = criteria_form.state_from_workflow(workflow)
        panel = criteria_form.panel(workflow, state, definitions)
        panel["trigger_html"] = _trigger_html(request, workflow, state["trigger"])
        return _render(request, workflow, panel=panel)
    state = criteria_form.state_from_post(request.POST)
    state = criteria_form.apply_button(state, request.POST)
    panel = criteria_form.panel(workflow, state, definitions)
    panel["trigger_html"] = _trigger_html(request, workflow, state["trigger"])
    if "_save" in request.POST and not panel["errors"]:
        workflow.criteria = panel["criteria"]
        workflow.re_enroll = state["re_enroll"]
        if panel["forms"] is not None:  # only this account's forms
            workflow.form_id = (
                state["form_id"]
                if state["form_id"] in {pk for pk, _name in panel["forms"]}
                else None
            )
        # An app's trigger or a form: one event starts the workflow, not both.
        workflow.trigger = state["trigger"]
        if workflow.trigger:
            workflow.form_id = None
        workflow.save(update_fields=["criteria", "re_enroll", "form_id", "trigger", "updated_at"])
        return _render(request, workflow, changed=True)
    return _render(request, workflow, panel=panel, status=400 if "_save" in request.POST else 200)


# --- Add an action ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_account
def action_panel(request: BuilderRequest, pk: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=True)
    slot = (request.POST if request.method == "POST" else request.GET).get("slot", "start")
    try:
        canvas._target(canvas.normalised(workflow.graph), slot)
    except canvas.GraphError:
        raise Http404 from None
    if request.method == "POST":
        key = request.POST.get("type", "")
        action_type = actions.action_type_or_none(key)
        if action_type is None:
            return _render(
                request,
                workflow,
                status=400,
                panel=_add_panel(workflow, slot, _("This action is not available.")),
            )
        step: dict[str, Any] = {"type": key, "config": {}, "incomplete": True}
        if key == canvas.BRANCH:
            step["config"] = {"paths": [{"name": _("Branch 1"), "groups": [], "next": None}]}
        new_id = 0  # set by add(), under the draft's row lock

        def add(graph: dict[str, Any]) -> dict[str, Any]:
            nonlocal new_id
            graph, new_id = canvas.step_add(graph, slot=slot, step=step)
            paths = action_type.branches_after(new_id)
            if paths:
                graph = canvas.branch_add_after(graph, step_id=new_id, paths=paths)
            return graph

        graph_edit(workflow, add)
        if not request.htmx:
            return redirect(reverse("workflows:step", args=[workflow.pk, new_id]))
        return _step_response(request, workflow, new_id, changed=True)
    return _render(request, workflow, panel=_add_panel(workflow, slot))


def _add_panel(workflow: Workflow, slot: str, error: str = "") -> dict[str, Any]:
    # A step already waiting for a section's connection is where connecting returns to
    # (not this panel, which would invite adding a second such step).
    step_paths: dict[str, str] = {}
    steps = canvas.normalised(workflow.graph)["steps"]
    for step_id, step in sorted(steps.items(), key=lambda item: int(item[0])):
        action_type = actions.action_type_or_none(step.get("type", ""))
        if action_type is not None and action_type.section not in step_paths:
            step_paths[action_type.section] = reverse("workflows:step", args=[workflow.pk, step_id])
    return {
        "kind": "add",
        "slot": slot,
        "sections": actions.panel_sections(
            workflow.account,
            next_path=reverse("workflows:add", args=[workflow.pk]) + f"?slot={slot}",
            step_paths=step_paths,
        ),
        "error": error,
    }


# --- Configure an action ---------------------------------------------------------------


def _step(workflow: Workflow, step_id: int) -> dict[str, Any]:
    step: dict[str, Any] | None = canvas.normalised(workflow.graph)["steps"].get(str(step_id))
    if step is None:
        raise Http404
    return step


def _config_form(
    action_type: ActionType, config: dict[str, Any], workflow: Workflow
) -> forms.Form | None:
    return action_type.builder_form(
        config, account=workflow.account, object_type=workflow.object_type
    )


def _step_panel(
    request: BuilderRequest,
    workflow: Workflow,
    step_id: int,
    *,
    config: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    saved: bool = False,
) -> dict[str, Any]:
    step = _step(workflow, step_id)
    definitions = definitions_for(workflow.account, workflow.object_type)
    config = step.get("config") or {} if config is None else config
    panel: dict[str, Any] = {
        "kind": "step",
        "step_id": step_id,
        "step": step,
        "config": config,
        "label": actions.step_label(step),
        "definitions": definitions,
        "errors": errors if errors is not None else step.get("problems") or [],
        "saved": saved,
    }
    action_type = actions.action_type_or_none(step.get("type", ""))
    if action_type is None:
        return panel
    panel["action_type"] = action_type
    if step.get("type") == canvas.BRANCH:
        panel["branch"] = _branch_rows(workflow, step_id, config, definitions)
        return panel
    form = _config_form(action_type, config, workflow)
    token_fields = action_type.token_fields(config, definitions=definitions)
    labels = picker.chip_labels(
        graph=canvas.normalised(workflow.graph), definitions=definitions, account=workflow.account
    )
    # A form may name choices that change its other widgets, e.g. "Who approves" then
    # a select of users or of roles: `refresh_fields = ("approver_kind",)`. Changing
    # one renders the panel again with what was entered (not saved).
    refresh_fields = set(getattr(form, "refresh_fields", ()) or ())
    refresh_attrs = {
        "hx-post": reverse("workflows:step", args=[workflow.pk, step_id]),
        "hx-trigger": "change",
        "hx-target": "#panel",
        "hx-swap": "outerHTML",
        "hx-vals": '{"_refresh": "1"}',
    }
    fields = []
    for name, bound in (form and [(n, form[n]) for n in form.fields]) or []:
        value = config.get(name, "")
        row = {
            "name": name,
            "bound": bound,
            "label": bound.label,
            "value": value,
            "required": bound.field.required,
            "help": bound.help_text,
            "id": f"step-field-{name}",
        }
        if name in token_fields:
            row["widget"] = "token"
            row["multiline"] = isinstance(bound.field.widget, forms.Textarea)
            row["chips"] = chips_html(value or "", labels)
        elif name == "assignee":
            row["widget"] = "user"
        elif name == "recipients":
            row["widget"] = "users"
            row["selected"] = {str(v) for v in (value or [])} if isinstance(value, list) else set()
        elif name in ("property", "copy_from", "until_property"):
            row["widget"] = "property"
            row["properties"] = [
                (d.name, picker.property_label(d))
                for d in definitions.values()
                if name != "until_property" or d.type in ("date", "datetime")
            ]
        else:
            row["widget"] = "field"
            attrs = {"id": row["id"]}
            if name in refresh_fields:  # the panel shows what this choice asks for next
                attrs.update(refresh_attrs)
            row["html"] = bound.as_widget(attrs=attrs)
            row["hidden"] = bound.is_hidden  # kept across saves, not shown
        fields.append(row)
    # A form may group fields under a collapsible heading, e.g. an AI action's
    # "Advanced API parameters": `advanced_fields = ("model", …)`, `advanced_label`.
    advanced = set(getattr(form, "advanced_fields", ()) or ())
    for row in fields:
        row["advanced"] = row["name"] in advanced
    if advanced:
        panel["advanced_label"] = getattr(form, "advanced_label", "") or _("Advanced")
        panel["advanced_open"] = any(config.get(n) not in (None, "") for n in advanced)
    panel["fields"] = fields
    panel["users"] = users_by_id(workflow.account)
    panel["extra"] = action_type.builder_panel_extra(
        config, workflow=workflow, user=request.user, step_id=step_id
    )
    problem = actions.connection_problem(action_type.section, workflow.account)
    if problem:
        # Connecting from here comes back to this step, not to "Choose an action".
        section = actions.section_of(action_type.section)
        panel["connection_problem"] = problem
        panel["connect_label"] = str(section.connect_label)
        panel["connect_url"] = section.connect_url(
            reverse("workflows:step", args=[workflow.pk, step_id])
        )
    return panel


def _step_response(
    request: BuilderRequest,
    workflow: Workflow,
    step_id: int,
    *,
    changed: bool = False,
    status: int = 200,
    config: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    saved: bool = False,
) -> HttpResponse:
    return _render(
        request,
        workflow,
        panel=_step_panel(request, workflow, step_id, config=config, errors=errors, saved=saved),
        changed=changed,
        status=status,
    )


def _config_from_post(form: forms.Form | None, post: QueryDict) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, field in form.fields.items() if form is not None else []:
        if isinstance(field, forms.MultipleChoiceField) or name == "recipients":
            config[name] = post.getlist(name)
        elif isinstance(field, forms.BooleanField):
            config[name] = name in post
        elif name in post:
            config[name] = post.get(name, "")[:65535]
    return config


@require_http_methods(["GET", "POST"])
@require_account
def step_panel(request: BuilderRequest, pk: int, step_id: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=request.method == "POST")
    step = _step(workflow, step_id)
    if request.method == "GET":
        return _step_response(request, workflow, step_id)
    action_type = actions.action_type_or_none(step.get("type", ""))
    if action_type is None:  # its integration was removed: nothing to save
        return _step_response(request, workflow, step_id, status=400)
    if step.get("type") == canvas.BRANCH:
        config = _branch_from_post(request.POST, step.get("config") or {})
        if "_add_path" in request.POST:
            config["paths"].append(
                {
                    "name": _("Branch %(n)d") % {"n": len(config["paths"]) + 1},
                    "groups": [],
                    "next": None,
                }
            )
            return _step_response(request, workflow, step_id, config=config, errors=[])
    else:
        config = action_type.config_from_builder(
            _config_from_post(_config_form(action_type, {}, workflow), request.POST)
        )
        if "_refresh" in request.POST:  # a choice that changes other widgets; not saved
            return _step_response(request, workflow, step_id, config=config, errors=[])
    try:
        clean = action_type.validate_config(
            config, account=workflow.account, object_type=workflow.object_type
        )
        problems: list[str] = []
    except ValidationError as error:
        clean, problems = config, error.messages
    except (TypeError, ValueError, KeyError, AttributeError):
        clean, problems = config, [_("Some values are not valid; check each field.")]

    def save(graph: dict[str, Any]) -> dict[str, Any]:
        saved = graph["steps"].get(str(step_id))
        if saved is None:
            raise Http404
        if saved.get("type") == canvas.BRANCH:  # links are the canvas's, not the form's
            for index, path in enumerate(clean.get("paths", [])):
                old = (saved.get("config") or {}).get("paths") or []
                path["next"] = old[index].get("next") if index < len(old) else None
            clean["none_next"] = (saved.get("config") or {}).get("none_next")
        saved["config"] = clean
        saved.pop("incomplete", None)
        saved.pop("problems", None)
        if problems:
            saved.update(incomplete=True, problems=problems)
        return graph

    graph_edit(workflow, save)
    if problems:
        return _step_response(request, workflow, step_id, changed=True, errors=problems, saved=True)
    if not request.htmx:
        return redirect("workflows:builder", pk=workflow.pk)
    return _render(request, workflow, changed=True)


# --- Branch editor ---------------------------------------------------------------------

BRANCH_OPERATORS = ["contains", "eq_any", "is_known", "is_unknown", "starts_with", "gt", "lt"]


def _branch_rows(
    workflow: Workflow,
    step_id: int,
    config: dict[str, Any],
    definitions: dict[str, PropertyDefinition],
) -> dict[str, Any]:
    graph = canvas.normalised(workflow.graph)
    variables = picker.data_variables(
        graph=graph, step_id=step_id, definitions=definitions, account=workflow.account
    )
    sources = [(f"property:{d.name}", picker.property_label(d)) for d in definitions.values()]
    for group in variables.groups:
        for variable in group.variables:
            step, output = variable.token.split("actions.")[1].rstrip(" }").split(".")
            sources.append((f"output:{step}.{output}", f"{group.title}: {variable.label}"))
    rows = []
    for index, path in enumerate(config.get("paths") or []):
        condition = ((path.get("groups") or [[]])[0] or [{}])[0]
        source = (
            f"output:{condition['output']}"
            if "output" in condition
            else f"property:{condition.get('property')}"
            if condition.get("property")
            else ""
        )
        values = condition.get("values") if "values" in condition else [condition.get("value")]
        rows.append(
            {
                "index": index,
                "name": path.get("name", ""),
                "source": source,
                "operator": condition.get("operator", "contains"),
                "value": ", ".join(str(v) for v in values or [] if v not in (None, "")),
            }
        )
    return {
        "rows": rows,
        "sources": sources,
        "operators": [(o, OPERATOR_LABELS[o]) for o in BRANCH_OPERATORS],
    }


def _branch_from_post(post: QueryDict, old: dict[str, Any]) -> dict[str, Any]:
    paths = []
    count = min(
        int(post.get("path_count") or 0) if str(post.get("path_count", "")).isdigit() else 0, 20
    )
    for index in range(count):
        name = post.get(f"path-{index}-name", "").strip()[:100]
        source = post.get(f"path-{index}-source", "")
        operator = post.get(f"path-{index}-operator", "contains")
        value = post.get(f"path-{index}-value", "").strip()[:255]
        groups = []
        if source.startswith(("property:", "output:")):
            kind, _sep, ref = source.partition(":")
            condition: dict[str, Any] = {
                "output" if kind == "output" else "property": ref,
                "operator": operator,
            }
            if operator in ("eq_any", "neq_any"):  # shown as "CA, NY": one value each
                condition["values"] = [v.strip() for v in value.split(",") if v.strip()]
            elif operator not in ("is_known", "is_unknown"):
                condition["value"] = value
            groups = [[condition]]
        paths.append({"name": name, "groups": groups, "next": None})
    return {"paths": paths, "none_next": old.get("none_next")}


# --- Move and delete -------------------------------------------------------------------


@require_POST
@require_account
def step_move(request: BuilderRequest, pk: int, step_id: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=True)
    _step(workflow, step_id)
    direction = request.POST.get("direction", "")
    try:
        graph_edit(workflow, lambda g: canvas.step_move(g, step_id=step_id, direction=direction))
    except canvas.GraphError:
        return _render(
            request,
            workflow,
            status=400,
            panel={
                "kind": "message",
                "message": _("This action cannot move further in that direction."),
            },
        )
    if not request.htmx:
        return redirect("workflows:builder", pk=workflow.pk)
    return _render(request, workflow, changed=True)


@require_http_methods(["GET", "POST"])
@require_account
def step_delete(request: BuilderRequest, pk: int, step_id: int) -> HttpResponse:
    workflow = workflow_for(request, pk, edit=True)
    step = _step(workflow, step_id)
    graph = canvas.normalised(workflow.graph)
    users = canvas.dependents(graph, step_id)
    removed = canvas.subtree(graph, step_id)
    if request.method == "GET" or (users and "confirm" not in request.POST):
        _chain, nodes = canvas.layout(graph)
        panel = {
            "kind": "delete",
            "step_id": step_id,
            "label": actions.step_label(step),
            "dependents": [
                f"{nodes[i].number}. {actions.step_label(nodes[i].step)}"
                for i in users
                if i in nodes
            ],
            "removed_count": len(removed) - 1,
        }
        return _render(request, workflow, panel=panel)
    graph_edit(workflow, lambda g: canvas.step_delete(g, step_id=step_id))
    if not request.htmx:
        return redirect("workflows:builder", pk=workflow.pk)
    return _render(request, workflow, changed=True)


# --- Data-variable picker --------------------------------------------------------------


@require_GET
@require_account
def step_picker(request: BuilderRequest, pk: int, step_id: int) -> HttpResponse:
    workflow = workflow_for(request, pk)
    step = _step(workflow, step_id)
    definitions = definitions_for(workflow.account, workflow.object_type)
    action_type = actions.action_type_or_none(step.get("type", ""))
    field = request.GET.get("field", "")
    config = {
        **(step.get("config") or {}),
        **{k: v for k, v in request.GET.items() if k not in ("field", "source")},
    }
    fields = action_type.token_fields(config, definitions=definitions) if action_type else {}
    if field not in fields:
        raise Http404
    graph = canvas.normalised(workflow.graph)
    variables = picker.data_variables(
        graph=graph,
        step_id=step_id,
        definitions=definitions,
        account=workflow.account,
        target_type=fields[field],
    )
    context = {
        "variables": variables,
        "field": field,
        "workflow": workflow,
        "object_label": _("%(object)s properties") % {"object": workflow.get_object_type_display()},
        "source": request.GET.get("source", "properties"),
        "panel": {},
    }
    return render(request, f"{PAGE}#picker", context)
