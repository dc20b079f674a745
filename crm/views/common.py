"""What the CRM views share: list columns, the create dialog's fields, and parsing
user input (object slugs, ids, `next` URLs). Objects are loaded with crm.access."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from crm.ids import parse_id as parse_id  # re-exported for the views
from crm.models import Account, ObjectType, PropertyDefinition
from crm.services import definitions_for

# What the list shows first, and what the "Create" dialog asks, per object type.
LIST_COLUMNS = {
    ObjectType.CONTACT: ["email", "phone", "owner", "lifecycle_stage", "lead_status"],
    ObjectType.COMPANY: ["domain", "owner", "industry", "city", "number_of_employees"],
    ObjectType.DEAL: ["stage", "amount", "close_date", "owner"],
    ObjectType.TICKET: ["status", "priority", "owner"],
}
CREATE_FIELDS = {
    ObjectType.CONTACT: [
        "email",
        "first_name",
        "last_name",
        "job_title",
        "phone",
        "owner",
        "lifecycle_stage",
        "lead_status",
    ],
    ObjectType.COMPANY: ["name", "domain", "industry", "city", "owner"],
    ObjectType.DEAL: ["name", "stage", "amount", "close_date", "owner"],
    ObjectType.TICKET: ["subject", "content", "status", "priority", "owner"],
}
MAX_CUSTOM_COLUMNS = 4


def object_type_for(slug: str) -> ObjectType:
    object_type = ObjectType.from_slug(slug)
    if object_type is None:
        raise Http404
    return object_type


def ordered_definitions(account: Account, object_type: str) -> dict[str, PropertyDefinition]:
    definitions = definitions_for(account, object_type)
    return dict(sorted(definitions.items(), key=lambda item: (item[1].position, item[1].label)))


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and target.startswith("/")
    ):
        return target
    return fallback
