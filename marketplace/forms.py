from django import forms
from django.utils.translation import gettext_lazy as _

from marketplace.services import REASON_MAX_LENGTH


class UninstallForm(forms.Form):
    reason = forms.CharField(
        label=_("Why are you uninstalling? (optional)"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
