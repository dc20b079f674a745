from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

# Real keys are ~50–170 characters; anything far longer is a paste gone wrong.
API_KEY_MAX_LENGTH = 400


class ApiKeyForm(forms.Form):
    # PasswordInput never renders the value back, so a refused key is not echoed into
    # the page that explains why it was refused.
    api_key = forms.CharField(
        label=_("API key"),
        strip=True,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "sk-…"},
        ),
        error_messages={"required": _("Paste your OpenAI API key.")},
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"]
        if len(key) > API_KEY_MAX_LENGTH:
            raise forms.ValidationError(
                _(
                    "This is too long to be an OpenAI API key. Copy the key again and paste "
                    "only the key."
                )
            )
        if any(char.isspace() for char in key) or not key.isprintable() or not key.isascii():
            raise forms.ValidationError(
                _(
                    "An OpenAI API key has no spaces, line breaks or special characters. "
                    "Copy the key again and paste only the key."
                )
            )
        return key


class ModelAccessForm(forms.Form):
    models = forms.MultipleChoiceField(
        label=_("Models workflow builders can select"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, choices: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [(model, model) for model in choices]
