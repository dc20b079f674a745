"""Builder forms that are not an action's own config form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import ObjectType


class WorkflowCreateForm(forms.Form):
    object_type = forms.ChoiceField(
        label=_("Object"), choices=ObjectType.choices, initial=ObjectType.CONTACT
    )
    name = forms.CharField(label=_("Workflow name"), max_length=200)


class WorkflowSearchForm(forms.Form):
    q = forms.CharField(label=_("Search workflows"), required=False, max_length=200)
    object_type = forms.ChoiceField(
        label=_("Object"), required=False, choices=[("", _("All objects")), *ObjectType.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("On and off")), ("on", _("On")), ("off", _("Off"))],
    )
