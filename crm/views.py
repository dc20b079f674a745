from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.access import account_for, require_account, super_admin_required

OBJECT_TYPES = {
    "contacts": _("Contacts"),
    "companies": _("Companies"),
    "deals": _("Deals"),
    "tickets": _("Tickets"),
}


@require_GET
@require_account
def home(request: HttpRequest) -> HttpResponse:
    return redirect("crm:record_list", object_type="contacts")


@require_GET
@require_account
def record_list(request: HttpRequest, object_type: str) -> HttpResponse:
    if object_type not in OBJECT_TYPES:
        from django.http import Http404

        raise Http404
    return render(
        request,
        "placeholder.html",
        {"title": OBJECT_TYPES[object_type], "section": "crm"},
    )


@require_GET
@require_account
def task_list(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": _("Tasks"), "section": "crm"})


@require_GET
@require_account
def settings_home(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    return render(
        request,
        "crm/settings_home.html",
        {"account": account, "settings_section": "preferences"},
    )


@require_GET
@super_admin_required
def settings_users(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    users = account.users.order_by("username")
    return render(
        request, "crm/settings_users.html", {"users": users, "settings_section": "users"}
    )
