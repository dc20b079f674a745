"""The shell pages: home redirect and the general settings."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from crm.access import account_for, require_account, super_admin_required


@require_GET
@require_account
def home(request: HttpRequest) -> HttpResponse:
    return redirect("crm:record_list", object_type="contacts")


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
    return render(request, "crm/settings_users.html", {"users": users, "settings_section": "users"})
