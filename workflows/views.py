from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.access import require_account


@require_GET
@require_account
def workflow_list(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": _("Workflows"), "section": "automation"})
