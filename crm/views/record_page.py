"""The record page: properties with inline edit, associations, timeline, notes, tasks."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from crm import display, services
from crm import properties as props
from crm.access import record_for, require_account
from crm.forms import NoteForm, TaskForm
from crm.listing import search_q
from crm.models import OBJECT_SLUGS, ObjectType, Record, Task, TimelineEvent
from crm.templatetags.crm_tags import property_label
from crm.views.common import ordered_definitions, parse_id

TIMELINE_LIMIT = 100
ASSOCIATIONS_LIMIT = 50
SEARCH_LIMIT = 10


def _users(record: Record) -> dict:
    return {u.pk: u for u in record.account.users.filter(is_active=True).order_by("first_name")}


def _property_item(
    definition, record: Record, users: dict, *, editing=False, error=None, raw=None
) -> dict:
    value = record.properties.get(definition.name)
    return {
        "definition": definition,
        "label": property_label(definition),
        "value": value,
        "display": props.display(definition, value, users=users) if value is not None else "",
        "editing": editing,
        "error": error,
        "raw": raw,
    }


def _timeline(record: Record, definitions: dict, users: dict) -> list[dict]:
    events = TimelineEvent.objects.filter(record=record).select_related("actor")[:TIMELINE_LIMIT]
    return [
        {
            "event": event,
            "kind": event.kind,
            "data": event.data if isinstance(event.data, dict) else {},
            "entry": display.timeline_entry(event, definitions=definitions, users=users),
            "source": display.source_label(event.source),
        }
        for event in events
    ]


def _associations(record: Record) -> list[dict]:
    linked = list(
        services.associated_records(record)
        .select_related("owner")
        .order_by("name")[: ASSOCIATIONS_LIMIT * 4]
    )
    groups = []
    for kind in ObjectType:
        if kind == record.object_type:
            continue
        groups.append(
            {
                "type": kind,
                "slug": OBJECT_SLUGS[kind],
                "label": kind.plural_label,
                "records": [r for r in linked if r.object_type == kind][:ASSOCIATIONS_LIMIT],
            }
        )
    return groups


def _tasks(record: Record) -> list[Task]:
    return list(
        record.tasks.select_related("assignee")
        .annotate(
            done=Case(
                When(status=Task.Status.COMPLETED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("done", "due_at", "-id")[:50]
    )


def _context(request: HttpRequest, record: Record, **extra) -> dict:
    account = record.account
    definitions = ordered_definitions(account, record.object_type)
    users = _users(record)
    return {
        "section": "crm",
        "record": record,
        "slug": record.slug,
        "object_label": ObjectType(record.object_type).plural_label,
        "definitions": definitions,
        "users": users,
        "properties": [_property_item(d, record, users) for d in definitions.values()],
        "timeline": _timeline(record, definitions, users),
        "associations": _associations(record),
        "tasks": _tasks(record),
        "note_form": NoteForm(),
        "task_form": TaskForm(account=account, initial={"assignee": request.user}),
        **extra,
    }


@require_GET
@require_account
def record_detail(request: HttpRequest, object_type: str, pk: int) -> HttpResponse:
    record = record_for(request, pk, slug=object_type)
    return render(request, "crm/record_detail.html", _context(request, record))


@require_http_methods(["GET", "POST"])
@require_account
def record_property(request: HttpRequest, object_type: str, pk: int, name: str) -> HttpResponse:
    """One property row: GET ?edit=1 shows its input; POST saves it (errors inline)."""
    record = record_for(request, pk, slug=object_type)
    definitions = ordered_definitions(record.account, record.object_type)
    definition = definitions.get(name)
    if definition is None:
        raise Http404
    users = _users(record)
    status = 200
    if request.method == "POST":
        raw = request.POST.get("value", "")
        if len(raw) > 70_000:
            raw = raw[:70_000]
        try:
            services.record_update(
                record=record, values={name: raw}, actor=request.user, source="ui"
            )
        except ValidationError as error:
            messages_ = error.message_dict.get(name, error.messages)
            item = _property_item(
                definition,
                record,
                users,
                editing=True,
                error=" ".join(messages_),
                raw=(raw or "")[:2_000],
            )
            status = 400 if not request.htmx else 200
        else:
            record.refresh_from_db()
            item = _property_item(definition, record, users)
            if not request.htmx:
                return redirect("crm:record_detail", object_type, record.pk)
        if not request.htmx:
            context = _context(request, record)
            context["properties"] = [
                item if p["definition"].name == name else p for p in context["properties"]
            ]
            return render(request, "crm/record_detail.html", context, status=status)
    else:
        item = _property_item(definition, record, users, editing=request.GET.get("edit") == "1")
        if not request.htmx:
            context = _context(request, record)
            context["properties"] = [
                item if p["definition"].name == name else p for p in context["properties"]
            ]
            return render(request, "crm/record_detail.html", context)
    response = render(
        request,
        "crm/record_detail.html#property",
        {"prop": item, "record": record, "users": users, "slug": record.slug},
        status=status,
    )
    if request.method == "POST" and item["error"] is None:
        # The timeline gained "property changed" entries: let it refresh itself.
        trigger_client_event(response, "timeline-changed")
    return response


@require_GET
@require_account
def record_timeline(request: HttpRequest, object_type: str, pk: int) -> HttpResponse:
    record = record_for(request, pk, slug=object_type)
    definitions = ordered_definitions(record.account, record.object_type)
    return render(
        request,
        "crm/record_detail.html#timeline",
        {
            "record": record,
            "slug": record.slug,
            "timeline": _timeline(record, definitions, _users(record)),
            "note_form": NoteForm(),
        },
    )


@require_POST
@require_account
def record_note(request: HttpRequest, object_type: str, pk: int) -> HttpResponse:
    record = record_for(request, pk, slug=object_type)
    form = NoteForm(request.POST)
    if form.is_valid():
        TimelineEvent.objects.create(
            account=record.account,
            record=record,
            kind=TimelineEvent.Kind.NOTE,
            data={"body": form.cleaned_data["body"]},
            actor=request.user,
            source="ui",
        )
        form = NoteForm()
    if not request.htmx:
        if form.errors:
            messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("crm:record_detail", object_type, record.pk)
    definitions = ordered_definitions(record.account, record.object_type)
    return render(
        request,
        "crm/record_detail.html#timeline",
        {
            "record": record,
            "slug": record.slug,
            "timeline": _timeline(record, definitions, _users(record)),
            "note_form": form,
        },
    )


@require_GET
@require_account
def record_association_search(request: HttpRequest, object_type: str, pk: int) -> HttpResponse:
    record = record_for(request, pk, slug=object_type)
    kind = ObjectType.from_slug(request.GET.get("type", ""))
    query = " ".join(request.GET.get("q", "").split())[:200]
    results = []
    if kind is not None and kind != record.object_type:
        already = services.associated_records(record).values("pk")
        candidates = Record.objects.filter(account=record.account, object_type=kind).exclude(
            pk__in=already
        )
        if query:
            candidates = candidates.filter(search_q(query))
        results = list(candidates.order_by("name", "id")[:SEARCH_LIMIT])
    return render(
        request,
        "crm/record_detail.html#association_results",
        {
            "record": record,
            "slug": record.slug,
            "results": results,
            "query": query,
            "search_type": kind,
        },
    )


@require_POST
@require_account
def record_associations(request: HttpRequest, object_type: str, pk: int) -> HttpResponse:
    """Add or remove an association with another record of the same account."""
    record = record_for(request, pk, slug=object_type)
    other_id = parse_id(request.POST.get("other"))
    try:
        other = record_for(request, other_id) if other_id else None
    except Http404:
        other = None  # deleted meanwhile, or another account's: said below
    error = None
    if other is None:
        error = _("That record does not exist (it may have been deleted).")
    elif request.POST.get("action") == "remove":
        services.association_delete(record=record, other=other)
    else:
        try:
            services.association_create(record=record, other=other)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("crm:record_detail", object_type, record.pk)
    return render(
        request,
        "crm/record_detail.html#associations",
        {
            "record": record,
            "slug": record.slug,
            "associations": _associations(record),
            "association_error": error,
        },
        status=404 if other is None else 200,
    )
