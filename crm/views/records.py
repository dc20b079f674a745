"""The record list of each object: search, filters, sort, keyset pages, bulk actions."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url

from crm import deletion, listing, services
from crm import filters as crm_filters
from crm.access import account_for, require_account, require_permission
from crm.audit import AuditAction, audit_record
from crm.models import OBJECT_CREATE_LABELS, PropertyType, Record
from crm.templatetags.crm_tags import property_label
from crm.views.common import (
    CREATE_FIELDS,
    LIST_COLUMNS,
    MAX_CUSTOM_COLUMNS,
    object_type_for,
    ordered_definitions,
    parse_id,
)

MAX_BULK = 500
UNDO_SESSION_KEY = "crm_undo_delete"


def _list_url(slug: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", [])})
    return reverse("crm:record_list", args=[slug]) + (f"?{query}" if query else "")


def _added_condition(request: HttpRequest) -> dict | None:
    """The condition the "Add filter" form submitted, in the crm.filters JSON form."""
    name = request.GET.get("add_property")
    operator = request.GET.get("add_operator")
    if not name:
        return None
    condition: dict = {"property": name[:100], "operator": (operator or "")[:30]}
    operator = condition["operator"]
    values = [listing.without_nul(v)[:1_000] for v in request.GET.getlist("add_values")[:100]]
    values = [v for v in values if v.strip()]
    if operator == "in_last_days":
        condition["value"] = values[0] if values else ""
    elif operator not in ("is_known", "is_unknown"):
        condition["values"] = values
    return condition


def _chips(slug: str, groups: list, parsed: list, state: dict, users: dict) -> list[list[dict]]:
    """Readable filter conditions, each with the link that removes it."""
    chips = []
    for g, (raw_group, parsed_group) in enumerate(
        zip([group for group in groups if group], parsed, strict=True)
    ):
        row = []
        for c, (raw, condition) in enumerate(zip(raw_group, parsed_group, strict=True)):
            remaining = [
                [item for j, item in enumerate(group) if (i, j) != (g, c)]
                for i, group in enumerate([group for group in groups if group])
            ]
            remaining = [group for group in remaining if group]
            definition = condition.definition
            values = (
                raw.get("values")
                if "values" in raw
                else ([raw["value"]] if raw.get("value") not in (None, "") else [])
            )
            shown = []
            for value in values:
                if definition.type == PropertyType.ENUMERATION:
                    shown.append(definition.option_label(str(value)))
                elif definition.type == PropertyType.OWNER:
                    shown.append(str(users.get(parse_id(value), value)))
                elif definition.type == PropertyType.BOOLEAN:
                    shown.append(
                        _("Yes") if str(value).lower() in ("true", "1", "yes") else _("No")
                    )
                else:
                    shown.append(str(value))
            joiner = _(" and ") if condition.operator == "between" else ", "
            row.append(
                {
                    "label": property_label(definition),
                    "operator": crm_filters.OPERATOR_LABELS[condition.operator],
                    "values": joiner.join(shown),
                    "remove_url": _list_url(
                        slug, **{**state, "filters": json.dumps(remaining) if remaining else ""}
                    ),
                }
            )
        chips.append(row)
    return chips


@require_GET
@require_account
def record_list(request: HttpRequest, object_type: str) -> HttpResponse:
    account = account_for(request)
    kind = object_type_for(object_type)
    definitions = ordered_definitions(account, kind)
    users = {user.pk: user for user in account.users.filter(is_active=True).order_by("first_name")}
    query = " ".join(request.GET.get("q", "").split())[: listing.MAX_SEARCH_LENGTH]
    sort = listing.parse_sort(definitions, request.GET.get("sort"))
    try:
        size = int(request.GET.get("size", 25))
    except ValueError:
        size = 25
    size = size if size in listing.PAGE_SIZES else 25

    filter_error = None
    raw_filters = request.GET.get("filters", "")
    try:
        groups, parsed = listing.parse_filters(definitions, raw_filters)
    except ValidationError as error:
        filter_error = " ".join(error.messages)
        groups, parsed = [], []
    added = _added_condition(request)
    if added is not None:
        candidate = [list(group) for group in groups if group] or [[]]
        candidate[0].append(added)
        try:
            parsed = crm_filters.parse_groups(definitions, candidate)
            groups = candidate
        except ValidationError as error:
            filter_error = " ".join(error.messages)
    groups = [group for group in groups if group]
    filters_param = json.dumps(groups, ensure_ascii=False) if groups else ""

    base = Record.objects.filter(account=account, object_type=kind)
    base = base.filter(listing.search_q(query))
    if parsed:
        base = base.filter(crm_filters.groups_q(parsed))
    page_query = listing.RecordListQuery(base=base, sort=sort, size=size)
    after = listing.decode_cursor(request.GET.get("after"), sort)
    before = listing.decode_cursor(request.GET.get("before"), sort)
    page = page_query.page(after=after, before=before, last=request.GET.get("last") == "1")

    state = {"q": query, "filters": filters_param, "sort": sort.param, "size": size}
    if sort.param == "-created":
        state["sort"] = ""
    if size == 25:
        state["size"] = ""
    columns = [definitions[name] for name in LIST_COLUMNS[kind] if name in definitions]
    columns += [d for d in definitions.values() if not d.is_standard][:MAX_CUSTOM_COLUMNS]
    header = [{"key": "name", "label": _("Name")}]
    header += [{"key": d.name, "label": property_label(d)} for d in columns]
    header.append({"key": "created", "label": _("Created")})
    for column in header:
        ascending = sort.key == column["key"] and not sort.descending
        column["sort_url"] = _list_url(
            object_type, **{**state, "sort": ("-" if ascending else "") + column["key"]}
        )
        column["sorted"] = (
            "desc"
            if sort.key == column["key"] and sort.descending
            else ("asc" if sort.key == column["key"] else "")
        )
    rows = [
        {"record": record, "cells": [(d, record.properties.get(d.name)) for d in columns]}
        for record in page.records
    ]
    context = {
        "section": "crm",
        "slug": object_type,
        "object_type": kind,
        "object_label": kind.plural_label,
        "singular_label": kind.label,
        "create_label": OBJECT_CREATE_LABELS[kind],
        "definitions": definitions,
        "filterable": [d for d in definitions.values()],
        "columns": columns,
        "header": header,
        "rows": rows,
        "page": page,
        "users": users,
        "state": state,
        "query": query,
        "filters_param": filters_param,
        "chips": _chips(object_type, groups, parsed, state, users) if parsed else [],
        "filter_error": filter_error,
        "first_url": _list_url(object_type, **state),
        "next_url": _list_url(object_type, **state, after=page.last_cursor),
        "previous_url": _list_url(object_type, **state, before=page.first_cursor),
        "last_url": _list_url(object_type, **state, last="1"),
        "canonical_url": _list_url(object_type, **state),
        "create_fields": [definitions[n] for n in CREATE_FIELDS[kind] if n in definitions],
        "bulk_properties": [d for d in definitions.values()],
        "page_sizes": listing.PAGE_SIZES,
        "size": size,
    }
    if request.htmx and not request.htmx.boosted:
        response = render(request, "crm/record_list.html#table", context)
        if added is not None:
            response = push_url(response, context["canonical_url"])
        return response
    undo = request.session.get(UNDO_SESSION_KEY)
    if undo and undo.get("slug") == object_type:
        context["undo"] = request.session.pop(UNDO_SESSION_KEY)
    return render(request, "crm/record_list.html", context)


bulk_delete_allowed = require_permission(
    "can_bulk_delete",
    message=gettext_lazy(
        "Your role cannot delete or restore records. A super admin can allow it in "
        "Settings › Users & roles."
    ),
)


@require_http_methods(["GET", "POST"])
@bulk_delete_allowed
def record_deleted_list(request: HttpRequest, object_type: str) -> HttpResponse:
    """Deleted records of this object, restorable for 30 days; POST `ids` restores
    them (the Undo button after a bulk delete posts here too)."""
    account = account_for(request)
    kind = object_type_for(object_type)
    if request.method == "POST":
        ids = [pk for pk in (parse_id(v) for v in request.POST.getlist("ids")[:MAX_BULK]) if pk]
        restored = deletion.records_restore(
            account=account, object_type=kind, record_ids=ids, actor=request.user
        )
        if restored:
            messages.success(
                request,
                ngettext(
                    "%(count)d record was restored.",
                    "%(count)d records were restored.",
                    len(restored),
                )
                % {"count": len(restored)},
            )
        else:
            messages.error(request, _("Select at least one deleted record first."))
        return redirect("crm:record_list" if restored else "crm:record_deleted", object_type)
    records = deletion.deleted_records(account=account, object_type=kind).select_related(
        "deleted_by"
    )[:MAX_BULK]
    return render(
        request,
        "crm/record_deleted_list.html",
        {
            "section": "crm",
            "slug": object_type,
            "object_label": kind.plural_label,
            "records": records,
            "kept_days": deletion.DELETED_KEPT_DAYS,
        },
    )


@require_GET
@require_account
def record_filter_fields(request: HttpRequest, object_type: str) -> HttpResponse:
    """The operator and value widgets for the property chosen in "Add filter"."""
    account = account_for(request)
    kind = object_type_for(object_type)
    definitions = ordered_definitions(account, kind)
    definition = definitions.get(request.GET.get("add_property", ""))
    operators = []
    if definition is not None:
        operators = [
            (op, crm_filters.OPERATOR_LABELS[op])
            for op in crm_filters.OPERATORS_BY_TYPE[PropertyType(definition.type)]
        ]
    users = account.users.filter(is_active=True).order_by("first_name", "username")
    return render(
        request,
        "crm/record_list.html#filter_fields",
        {"definition": definition, "operators": operators, "users": users},
    )


@require_http_methods(["GET", "POST"])
@require_account
def record_create(request: HttpRequest, object_type: str) -> HttpResponse:
    account = account_for(request)
    kind = object_type_for(object_type)
    definitions = ordered_definitions(account, kind)
    fields = [definitions[n] for n in CREATE_FIELDS[kind] if n in definitions]
    values = {d.name: request.POST.get(d.name, "")[:70_000] for d in fields}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            record = services.record_create(
                account=account,
                object_type=kind,
                values=values,
                actor=request.user,
                source="ui",
            )
        except ValidationError as error:
            errors = error.message_dict
        else:
            messages.success(request, _("%(name)s was created.") % {"name": record})
            url = reverse("crm:record_detail", args=[object_type, record.pk])
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    context = {
        "section": "crm",
        "slug": object_type,
        "singular_label": kind.label,
        "create_label": OBJECT_CREATE_LABELS[kind],
        "object_label": kind.plural_label,
        "create_fields": fields,
        "values": values,
        "errors": errors,
        "users": account.users.filter(is_active=True).order_by("first_name", "username"),
    }
    template = "crm/record_create.html#create_form" if request.htmx else "crm/record_create.html"
    return render(request, template, context, status=400 if errors else 200)


@require_POST
@require_account
def record_bulk(request: HttpRequest, object_type: str) -> HttpResponse:
    """Delete, or set one property on, the selected records — after a confirmation."""
    account = account_for(request)
    kind = object_type_for(object_type)
    definitions = ordered_definitions(account, kind)
    back = request.POST.get("back", "")
    back = back if back.startswith(reverse("crm:record_list", args=[object_type])) else ""
    back = back or reverse("crm:record_list", args=[object_type])
    ids = [pk for pk in (parse_id(v) for v in request.POST.getlist("ids")[:MAX_BULK]) if pk]
    records = list(
        Record.objects.filter(account=account, object_type=kind, pk__in=ids).order_by("id")
    )
    action = request.POST.get("action")
    if not records:
        messages.error(request, _("Select at least one record first."))
        return redirect(back)
    definition = definitions.get(request.POST.get("property", ""))
    value = request.POST.get("value", "")[:70_000]
    if action == "edit":
        if definition is None:
            messages.error(request, _("Choose the property to edit."))
            return redirect(back)
        try:
            services.values_validate(definitions, {definition.name: value})
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(back)
    elif action != "delete":
        messages.error(request, _("Choose an action."))
        return redirect(back)
    elif not request.user.can_bulk_delete:
        messages.error(
            request,
            _(
                "Your role cannot delete records in bulk. A super admin can allow it in "
                "Settings › Users & roles."
            ),
        )
        return redirect(back)
    if request.POST.get("confirm") != "yes":
        return render(
            request,
            "crm/record_bulk_confirm.html",
            {
                "section": "crm",
                "slug": object_type,
                "records": records,
                "action": action,
                "definition": definition,
                "value": value,
                "back": back,
                "object_label": kind.plural_label,
            },
        )
    if action == "delete":
        with transaction.atomic():
            deleted = deletion.records_delete(
                account=account,
                object_type=kind,
                record_ids=[r.pk for r in records],
                actor=request.user,
            )
            audit_record(
                action=AuditAction.RECORDS_BULK_DELETED,
                request=request,
                target=str(kind.plural_label),
                detail={"count": len(deleted), "ids": deleted[:500]},
            )
        # The list shows an Undo button for this deletion, once (record_list).
        request.session[UNDO_SESSION_KEY] = {"slug": object_type, "ids": deleted}
        messages.success(
            request,
            ngettext(
                "%(count)d record was deleted. It can be restored for 30 days.",
                "%(count)d records were deleted. They can be restored for 30 days.",
                len(deleted),
            )
            % {"count": len(deleted)},
        )
    else:
        with transaction.atomic():
            for record in records:
                services.record_update(
                    record=record,
                    values={definition.name: value},
                    actor=request.user,
                    source="ui",
                )
        messages.success(
            request,
            ngettext(
                "%(count)d record was updated.", "%(count)d records were updated.", len(records)
            )
            % {"count": len(records)},
        )
    return redirect(back)
