"""Django forms behind the CRM pages: tasks, notes, property definitions, the web-form
builder and the CSV upload. (The form visitors fill in is built per web form, in
`crm.submissions`.)

Record property values are not Django form fields: they go through
`crm.services.values_validate`, the one validation every channel shares.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import webforms
from crm.display import property_label
from crm.models import (
    Account,
    Form,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    PropertyValue,
    Task,
    User,
)
from crm.properties import MAX_TEXTAREA_LENGTH
from crm.timezones import time_zone_names

MAX_NOTE_LENGTH = MAX_TEXTAREA_LENGTH
MAX_OPTIONS = 200


class TaskForm(forms.ModelForm):
    due_at = forms.DateTimeField(
        label=gettext_lazy("Due date"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    class Meta:
        model = Task
        fields = ["title", "type", "priority", "due_at", "assignee", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = account.users.filter(is_active=True).order_by(
            "first_name", "username"
        )
        self.fields["priority"].choices = Task.priority_choices()

    def clean_notes(self) -> str:
        notes = self.cleaned_data.get("notes", "")
        if len(notes) > MAX_NOTE_LENGTH:
            raise forms.ValidationError(
                _("The notes are too long (at most %(limit)d characters).")
                % {"limit": MAX_NOTE_LENGTH}
            )
        return notes


class NoteForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=MAX_NOTE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": gettext_lazy("Write a note…")}),
    )


def _parse_options(text: str) -> list[dict[str, str]]:
    """One option per line: "Label" or "internal_value | Label"."""
    options: list[dict[str, str]] = []
    seen: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if "|" in line:
            value, label = (part.strip() for part in line.split("|", 1))
        else:
            value, label = slugify(line).replace("-", "_"), line
        if not value or not label:
            raise forms.ValidationError(
                _("“%(line)s” is not an option: write a label, or value | label.")
                % {"line": line[:100]}
            )
        if len(value) > 100 or len(label) > 200:
            raise forms.ValidationError(_("An option is too long (at most 200 characters)."))
        if value.lower() in seen:
            raise forms.ValidationError(
                _("The option “%(value)s” appears twice.") % {"value": value[:100]}
            )
        seen.add(value.lower())
        options.append({"value": value, "label": label})
    if len(options) > MAX_OPTIONS:
        raise forms.ValidationError(
            _("Too many options (at most %(limit)d).") % {"limit": MAX_OPTIONS}
        )
    return options


def options_text(options: list[dict[str, str]]) -> str:
    return "\n".join(f"{o['value']} | {o['label']}" for o in options)


class PropertyDefinitionForm(forms.Form):
    """Create a custom property, or edit the label/options of any property."""

    label = forms.CharField(label=gettext_lazy("Label"), max_length=200)
    name = forms.CharField(
        label=gettext_lazy("Internal name"),
        max_length=100,
        required=False,
        help_text=gettext_lazy(
            "Used by imports, the API and workflows. Lowercase letters, digits and "
            "underscores; made from the label when left empty. It cannot change later."
        ),
    )
    type = forms.ChoiceField(
        label=gettext_lazy("Field type"),
        choices=[(t.value, t.label) for t in PropertyType if t != PropertyType.OWNER],
    )
    description = forms.CharField(label=gettext_lazy("Description"), max_length=500, required=False)
    options = forms.CharField(
        label=gettext_lazy("Options (dropdown select only)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy("One per line: a label, or internal_value | Label."),
    )

    def __init__(
        self,
        *args,
        account: Account,
        object_type: str,
        instance: PropertyDefinition | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.account = account
        self.object_type = object_type
        self.instance = instance
        if instance is not None:
            # Name and type are fixed once created: stored values depend on them.
            del self.fields["name"]
            del self.fields["type"]
            self.initial.setdefault("label", instance.label)
            self.initial.setdefault("description", instance.description)
            self.initial.setdefault("options", options_text(instance.options))

    @property
    def property_type(self) -> str:
        if self.instance is not None:
            return self.instance.type
        return self.cleaned_data.get("type", "")

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name", "").strip()
        label = self.cleaned_data.get("label", "")
        if not name:
            name = slugify(label).replace("-", "_")
        name = name.lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,99}", name):
            raise forms.ValidationError(
                _(
                    "The internal name must start with a letter and use only lowercase "
                    "letters, digits and underscores."
                )
            )
        if PropertyDefinition.objects.filter(
            account=self.account, object_type=self.object_type, name=name
        ).exists():
            raise forms.ValidationError(
                _("A property named “%(name)s” already exists.") % {"name": name}
            )
        return name

    def clean_options(self) -> list[dict[str, str]]:
        return _parse_options(self.cleaned_data.get("options", ""))

    def clean(self):
        cleaned = super().clean()
        if self.property_type == PropertyType.ENUMERATION and "options" in cleaned:
            if not cleaned["options"]:
                self.add_error("options", _("A dropdown select needs at least one option."))
            elif self.instance is not None:
                self._check_removed_options(cleaned["options"])
        elif self.property_type and self.property_type != PropertyType.ENUMERATION:
            cleaned["options"] = []
        return cleaned

    def _check_removed_options(self, options: list[dict[str, str]]) -> None:
        kept = {o["value"] for o in options}
        removed = [o for o in self.instance.options if o["value"] not in kept]
        if not removed:
            return
        in_use = PropertyValue.objects.filter(
            property=self.instance, text_value__in=[o["value"].lower() for o in removed]
        ).exists()
        if in_use:
            self.add_error(
                "options",
                _(
                    "Some records still use an option you removed (%(labels)s). "
                    "Change those records first."
                )
                % {"labels": ", ".join(o["label"] for o in removed)[:300]},
            )

    def save(self) -> PropertyDefinition:
        data = self.cleaned_data
        if self.instance is not None:
            self.instance.label = data["label"]
            self.instance.description = data["description"]
            if self.instance.type == PropertyType.ENUMERATION:
                self.instance.options = data["options"]
            self.instance.save(update_fields=["label", "description", "options"])
            return self.instance
        last = (
            PropertyDefinition.objects.filter(account=self.account, object_type=self.object_type)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
        )
        return PropertyDefinition.objects.create(
            account=self.account,
            object_type=self.object_type,
            name=data["name"],
            label=data["label"],
            type=data["type"],
            description=data["description"],
            options=data["options"],
            is_standard=False,
            position=(last or 0) + 1,
        )


# --- Settings > Forms -----------------------------------------------------------------


class FormSettingsForm(forms.ModelForm):
    class Meta:
        model = Form
        fields = [
            "name",
            "title",
            "introduction",
            "submit_label",
            "thank_you_message",
            "is_active",
            "submissions_per_hour",
            "proof_of_work",
        ]
        widgets = {
            "introduction": forms.Textarea(attrs={"rows": 3}),
            "thank_you_message": forms.Textarea(attrs={"rows": 3}),
        }


class AddFieldForm(forms.Form):
    """Add a question: a contact property (`source` = its id) or free text."""

    source = forms.ChoiceField(label=gettext_lazy("Question"))
    label = forms.CharField(
        label=gettext_lazy("Label"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Leave empty to use the property's label."),
    )
    required = forms.BooleanField(label=gettext_lazy("Required"), required=False)

    def __init__(self, *args: Any, definitions: list[PropertyDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = {str(d.pk): d for d in definitions}
        self.fields["source"].choices = [
            (
                gettext_lazy("Free-text questions"),
                [
                    (
                        webforms.NEW_PROPERTY,
                        _("Free text, saved to a new multi-line contact property"),
                    ),
                    (webforms.FREE_TEXT, _("Free text, kept on the submission only")),
                ],
            ),
            (
                gettext_lazy("Contact properties"),
                [(pk, property_label(d)) for pk, d in self.definitions.items()],
            ),
        ]

    def clean_source(self) -> PropertyDefinition | str:
        """The chosen contact property, or NEW_PROPERTY / FREE_TEXT."""
        source = self.cleaned_data["source"]
        return self.definitions.get(source, source)

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        free_text = self.cleaned_data.get("source") in (webforms.NEW_PROPERTY, webforms.FREE_TEXT)
        if free_text and not self.cleaned_data.get("label"):
            self.add_error("label", _("A free-text question needs a label."))
        return cleaned


# --- Settings > Import ----------------------------------------------------------------


class UploadForm(forms.Form):
    object_type = forms.ChoiceField(
        label=gettext_lazy("What are you importing?"),
        choices=[
            (ObjectType.CONTACT, gettext_lazy("Contacts")),
            (ObjectType.COMPANY, gettext_lazy("Companies")),
        ],
    )
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "The first line names the columns. Comma or semicolon separated, UTF-8 or "
            "Windows (Latin-1) encoding, up to 25 MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class TimeZoneForm(forms.Form):
    """Settings › General: the user's time zone, and for a super admin the account's (the
    default of every user who chose none)."""

    time_zone = forms.ChoiceField(label=gettext_lazy("Your time zone"), required=False)
    account_time_zone = forms.ChoiceField(
        label=gettext_lazy("Account time zone"),
        required=False,
        help_text=gettext_lazy("For every user who has not chosen one."),
    )

    def __init__(self, *args, user: User, default: str, **kwargs):
        super().__init__(*args, **kwargs)
        names = [(name, name.replace("_", " ")) for name in time_zone_names()]
        account = user.account
        account_default = (account.time_zone if account else "") or default
        self.fields["time_zone"].choices = [
            ("", _("The account’s (%(zone)s)") % {"zone": account_default.replace("_", " ")}),
            *names,
        ]
        self.fields["time_zone"].initial = user.time_zone
        if user.is_super_admin and account is not None:
            self.fields["account_time_zone"].choices = [
                ("", _("The server’s (%(zone)s)") % {"zone": default.replace("_", " ")}),
                *names,
            ]
            self.fields["account_time_zone"].initial = account.time_zone
        else:
            del self.fields["account_time_zone"]
