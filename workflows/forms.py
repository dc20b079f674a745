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

    def __init__(self, *args: object, **kwargs: object) -> None:
        # The list page also holds the search form: ids of their own, so each label
        # names its own field (both have an "Object" select).
        kwargs.setdefault("auto_id", "create_%s")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class WorkflowSearchForm(forms.Form):
    q = forms.CharField(label=_("Search workflows"), required=False, max_length=200)
    object_type = forms.ChoiceField(
        label=_("Filter by object"),
        required=False,
        choices=[("", _("All objects")), *ObjectType.choices],
    )
    status = forms.ChoiceField(
        label=_("Filter by status"),
        required=False,
        choices=[("", _("On and off")), ("on", _("On")), ("off", _("Off"))],
    )
    # A builder section's key (e.g. an app's): the workflows with a step of that section.
    uses = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("auto_id", "filter_%s")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
