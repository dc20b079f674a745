"""Submitting a web form, from its public page or the JSON API.

`form_submission_create` is the one code path of a submission: whatever the channel,
a submission finds or creates its contact by email, stores the answers, writes the
timeline and sends `crm.signals.form_submitted`, all in one transaction. The answers
it takes are the cleaned data of `submission_form_class`, so both channels refuse the
same values with the same messages. The public page's abuse limits live here too.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms as django_forms
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from config.client_address import request_client_address
from crm import properties as props
from crm import services
from crm.models import (
    Form,
    FormField,
    FormSubmission,
    ObjectType,
    PropertyType,
    TimelineEvent,
)
from crm.signals import form_submitted

# Public page abuse limits: submissions per IP address and form in a fixed window; and
# per form from all addresses together, per clock hour (Form.submissions_per_hour).
RATE_LIMIT = 10
RATE_WINDOW_SECONDS = 10 * 60
HOUR_SECONDS = 60 * 60
# Bots fill every input; people never see this one (hidden by CSS, skipped by Tab).
HONEYPOT = "website_url"
FREE_TEXT_MAX_LENGTH = 5_000
AUTOCOMPLETE = {
    "first_name": "given-name",
    "last_name": "family-name",
    "phone": "tel",
    "company_name": "organization",
    "job_title": "organization-title",
}


# --- The Django form visitors fill in ------------------------------------------------


class SubmissionFormBase(django_forms.Form):
    form_fields: list[FormField] = []

    def clean(self) -> dict[str, Any] | None:
        # Property-mapped answers are checked with the very rules of crm.properties,
        # so a visitor reads the same message as a user typing into the record page.
        cleaned = super().clean()
        for field in self.form_fields:
            value = self.cleaned_data.get(field.key)
            if field.property is None or value in (None, ""):
                continue
            try:
                props.normalize(field.property, value)
            except ValidationError as error:
                self.add_error(field.key, error.messages)
        return cleaned


def submission_form_class(fields: list[FormField]) -> type[SubmissionFormBase]:
    """The Django form visitors fill in: one input per field, typed by its property."""
    attrs: dict[str, Any] = {"form_fields": fields}
    for field in fields:
        attrs[field.key] = _input_for(field)
    attrs[HONEYPOT] = django_forms.CharField(required=False, max_length=200)
    return type("SubmissionForm", (SubmissionFormBase,), attrs)


def _input_for(field: FormField) -> django_forms.Field:
    common: dict[str, Any] = {
        "label": field.shown_label,
        "required": field.required,
        "help_text": field.help_text,
    }
    definition = field.property
    if definition is None:
        return django_forms.CharField(
            max_length=FREE_TEXT_MAX_LENGTH,
            widget=django_forms.Textarea(attrs={"rows": 4}),
            **common,
        )
    kind = definition.type
    if definition.name == "email":
        return django_forms.CharField(
            max_length=254,
            widget=django_forms.EmailInput(attrs={"autocomplete": "email"}),
            **common,
        )
    if kind == PropertyType.TEXTAREA:
        return django_forms.CharField(
            max_length=props.MAX_TEXTAREA_LENGTH,
            widget=django_forms.Textarea(attrs={"rows": 4}),
            **common,
        )
    if kind == PropertyType.ENUMERATION:
        choices = [("", _("Please select"))] + [
            (option["value"], option["label"]) for option in definition.shown_options
        ]
        return django_forms.ChoiceField(choices=choices, **common)
    if kind == PropertyType.BOOLEAN:
        return django_forms.BooleanField(**common)
    widget: django_forms.Widget = django_forms.TextInput()
    if kind == PropertyType.NUMBER:
        widget = django_forms.TextInput(attrs={"inputmode": "decimal"})
    elif kind == PropertyType.DATE:
        widget = django_forms.DateInput(attrs={"type": "date"})
    elif kind == PropertyType.DATETIME:
        widget = django_forms.DateTimeInput(attrs={"type": "datetime-local"})
    if definition.name in AUTOCOMPLETE:
        widget.attrs["autocomplete"] = AUTOCOMPLETE[definition.name]
    return django_forms.CharField(max_length=props.MAX_TEXT_LENGTH, widget=widget, **common)


# --- The submission ------------------------------------------------------------------


@transaction.atomic
def form_submission_create(
    *,
    form: Form,
    answers: dict[str, Any],
    source: str = FormSubmission.Source.FORM,
    ip_address: str | None = None,
    user_agent: str = "",
) -> FormSubmission:
    """Create or update the contact by email, store the submission, tell the timeline
    and the subscribers of `form_submitted` — all in one transaction.

    `answers` are the cleaned answers of `submission_form_class`, by field key.
    Raises ValidationError (by field key) if a value is refused.
    """
    # Two visitors sending the same new email at once make one contact, not two:
    # record_upsert serialises them by that email (not by form: visitors with different
    # emails are not queued behind each other).
    fields = form.fields_in_order()
    values: dict[str, Any] = {}
    for field in fields:
        value = answers.get(field.key)
        # An empty answer leaves the contact's value alone; it never clears it.
        if field.property is not None and value not in (None, "", False):
            values[field.property.name] = value
    if not values.get("email"):
        raise ValidationError({"email": [_("Enter your email address.")]})
    by_key = {field.property.name: field.key for field in fields if field.property}
    try:
        contact, created = services.record_upsert(
            account=form.account,
            object_type=ObjectType.CONTACT,
            match="email",
            values=values,
            source=source,
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            raise ValidationError(
                {by_key.get(name, name): messages for name, messages in error.message_dict.items()}
            ) from None
        raise
    stored = {
        field.key: answers[field.key]
        for field in fields
        if answers.get(field.key) not in (None, "")
    }
    submission = FormSubmission.objects.create(
        account_id=form.account_id,
        form=form,
        record=contact,
        answers=stored,
        created_contact=created,
        source=source,
        ip_address=ip_address,
        user_agent=user_agent[:300],
    )
    TimelineEvent.objects.create(
        account_id=form.account_id,
        record=contact,
        kind=TimelineEvent.Kind.FORM_SUBMITTED,
        source=source,
        data={
            "form_id": form.pk,
            "form_name": form.name,
            "submission_id": submission.pk,
            "answers": [
                {"key": f.key, "label": f.label, "value": stored[f.key]}
                for f in fields
                if f.key in stored
            ],
        },
    )
    form_submitted.send(sender=Form, record=contact, form=form, submission=submission)
    return submission


def client_ip(request: HttpRequest) -> str | None:
    """The address a submission is stored with and rate-limited by: the client's,
    read behind TRUSTED_PROXIES by config.client_address."""
    return request_client_address(request)


def rate_limited(*, form: Form, ip: str | None) -> bool:
    """Count this attempt; True once the IP went over the limit for this form.

    Counted in the Django cache: production needs a shared one (Redis), or each
    process counts on its own.
    """
    key = f"intake:form-rate:{form.pk}:{ip or 'unknown'}"
    return _count(key, timeout=RATE_WINDOW_SECONDS) > RATE_LIMIT


def hourly_cap_reached(*, form: Form) -> bool:
    """Count one submission about to be accepted; True once the form went over its
    `submissions_per_hour`, from all addresses together (a spammer with many addresses
    cannot start more paid workflow runs than that)."""
    hour = int(time.time() // HOUR_SECONDS)
    key = f"intake:form-hour:{form.pk}:{hour}"
    return _count(key, timeout=HOUR_SECONDS + 60) > form.submissions_per_hour


def _count(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (created for `timeout` seconds); its new value."""
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1
