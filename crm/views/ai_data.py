"""Settings > AI data: super admins decide what AI apps may be sent (which properties,
masking) and how long the run history keeps what was sent and answered
(docs/data-controls.md). The AI apps read these settings; this page only edits them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.access import account_for, super_admin_required
from crm.audit import AuditAction, audit_record
from crm.models import Account, ObjectType, PropertyDefinition
from crm.templatetags.crm_tags import property_label


class AIDataForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["ai_mask_text", "ai_retention_days", "ai_openai_store"]


@require_http_methods(["GET", "POST"])
@super_admin_required
def ai_data(request: HttpRequest) -> HttpResponse:
    """GET: the settings. POST `save`: masking, retention days and the properties that
    may be sent (`sent` checkboxes, by property id; every property not checked is
    sensitive)."""
    account = account_for(request)
    definitions = list(
        PropertyDefinition.objects.filter(account=account).order_by(
            "object_type", "-is_standard", "position", "label"
        )
    )
    form = AIDataForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        sent = set(request.POST.getlist("sent"))
        to_block = [d for d in definitions if str(d.pk) not in sent and not d.sensitive]
        to_allow = [d for d in definitions if str(d.pk) in sent and d.sensitive]
        with transaction.atomic():
            form.save()
            PropertyDefinition.objects.filter(
                account=account, pk__in=[d.pk for d in to_block]
            ).update(sensitive=True)
            PropertyDefinition.objects.filter(
                account=account, pk__in=[d.pk for d in to_allow]
            ).update(sensitive=False)
            audit_record(
                action=AuditAction.DATA_CONTROLS_CHANGED,
                request=request,
                target=_("AI data"),
                detail={
                    "mask_text": account.ai_mask_text,
                    "retention_days": account.ai_retention_days,
                    "openai_store": account.ai_openai_store,
                    "withheld": [d.name for d in to_block],
                    "allowed": [d.name for d in to_allow],
                },
            )
        messages.success(request, _("AI data settings saved."))
        return redirect("crm:ai_data")
    groups = [
        (
            kind.plural_label,
            [(d, property_label(d)) for d in definitions if d.object_type == kind],
        )
        for kind in ObjectType
    ]
    return render(
        request,
        "crm/ai_data.html",
        {"settings_section": "ai_data", "form": form, "groups": groups},
    )
