"""Settings > Properties: super admins list, create, edit and delete property definitions."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.access import account_for, property_definition_for, super_admin_required
from crm.definitions import property_definition_delete
from crm.forms import PropertyDefinitionForm
from crm.models import OBJECT_SLUGS, ObjectType, PropertyDefinition, PropertyValue
from crm.templatetags.crm_tags import property_label
from crm.views.common import object_type_for


def _tabs(current: str) -> list[dict]:
    return [
        {
            "slug": slug,
            "label": kind.plural_label,
            "current": slug == current,
            "url": reverse("crm:property_list") + f"?object={slug}",
        }
        for kind, slug in OBJECT_SLUGS.items()
    ]


def _list_url(object_type: str) -> str:
    return reverse("crm:property_list") + f"?object={OBJECT_SLUGS[ObjectType(object_type)]}"


@require_GET
@super_admin_required
def property_list(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    slug = request.GET.get("object", "contacts")
    kind = ObjectType.from_slug(slug) or ObjectType.CONTACT
    slug = OBJECT_SLUGS[kind]
    definitions = list(
        PropertyDefinition.objects.filter(account=account, object_type=kind).order_by(
            "-is_standard", "position", "label"
        )
    )
    return render(
        request,
        "crm/property_list.html",
        {
            "settings_section": "properties",
            "slug": slug,
            "object_type": kind,
            "tabs": _tabs(slug),
            "definitions": [(d, property_label(d)) for d in definitions],
        },
    )


@require_http_methods(["GET", "POST"])
@super_admin_required
def property_create(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    slug = request.POST.get("object") or request.GET.get("object") or "contacts"
    kind = object_type_for(slug)
    form = PropertyDefinitionForm(request.POST or None, account=account, object_type=kind)
    if request.method == "POST" and form.is_valid():
        definition = form.save()
        messages.success(
            request, _("Property “%(label)s” was created.") % {"label": definition.label}
        )
        return redirect(_list_url(kind))
    return render(
        request,
        "crm/property_form.html",
        {
            "settings_section": "properties",
            "form": form,
            "slug": slug,
            "object_type": kind,
            "definition": None,
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@super_admin_required
def property_edit(request: HttpRequest, pk: int) -> HttpResponse:
    definition = property_definition_for(request, pk)
    form = PropertyDefinitionForm(
        request.POST or None,
        account=account_for(request),
        object_type=definition.object_type,
        instance=definition,
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(
            request, _("Property “%(label)s” was saved.") % {"label": definition.label}
        )
        return redirect(_list_url(definition.object_type))
    return render(
        request,
        "crm/property_form.html",
        {
            "settings_section": "properties",
            "form": form,
            "definition": definition,
            "slug": OBJECT_SLUGS[ObjectType(definition.object_type)],
            "object_type": ObjectType(definition.object_type),
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@super_admin_required
def property_delete(request: HttpRequest, pk: int) -> HttpResponse:
    definition = property_definition_for(request, pk)
    if definition.is_standard:
        messages.error(request, _("Standard properties cannot be deleted."))
        return redirect(_list_url(definition.object_type))
    if request.method == "POST":
        property_definition_delete(definition=definition)
        messages.success(
            request, _("Property “%(label)s” was deleted.") % {"label": definition.label}
        )
        return redirect(_list_url(definition.object_type))
    in_use = PropertyValue.objects.filter(property=definition).aggregate(n=Count("id"))["n"]
    return render(
        request,
        "crm/property_delete.html",
        {
            "settings_section": "properties",
            "definition": definition,
            "in_use": in_use,
            "slug": OBJECT_SLUGS[ObjectType(definition.object_type)],
        },
    )
