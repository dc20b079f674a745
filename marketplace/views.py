from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.access import require_account, super_admin_required


@require_GET
@require_account
def catalog(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": _("App Marketplace")})


@require_GET
@super_admin_required
def connected_apps(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "placeholder.html",
        {
            "title": _("Connected apps"),
            "settings_section": "connected_apps",
            "layout": "settings_base.html",
        },
    )
