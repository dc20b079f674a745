"""Forms: the builder pages for super admins, the public page visitors submit, and
`form_submission_create`, the one code path of a submission (public page and API).
"""

from __future__ import annotations

from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from crm import properties as props
from crm import services
from crm.access import account_for, require_roles
from crm.models import (
    Account,
    Form,
    FormField,
    FormSubmission,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    Record,
    Role,
    TimelineEvent,
)
from crm.signals import form_submitted

forms_admin_required = require_roles(
    Role.SUPER_ADMIN, message=gettext_lazy("Only super admins can manage forms.")
)

# Public page abuse limits: submissions per IP address and form in a sliding window.
RATE_LIMIT = 10
RATE_WINDOW_SECONDS = 10 * 60
# Bots fill every input; people never see this one (hidden by CSS, skipped by Tab).
HONEYPOT = "website_url"
FREE_TEXT_MAX_LENGTH = 5_000
# Owner ids mean nothing to visitors: that type is never offered on a public form.
FORM_PROPERTY_TYPES = [t for t in PropertyType if t != PropertyType.OWNER]


# --- Submitting --------------------------------------------------------------------


class SubmissionFormBase(django_forms.Form):
    form_fields: list[FormField] = []

    def clean(self):
        # Property-mapped answers are checked with the very rules of crm.properties,
        # so a visitor reads the same message as a user typing into the record page.
        cleaned = super().clean()
        for field in self.form_fields:
            value = cleaned.get(field.key)
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
    common = {"label": field.label, "required": field.required, "help_text": field.help_text}
    definition = field.property
    kind = definition.type if definition else PropertyType.TEXTAREA
    if definition is not None and definition.name == "email":
        return django_forms.CharField(
            max_length=254,
            widget=django_forms.EmailInput(attrs={"autocomplete": "email"}),
            **common,
        )
    if kind == PropertyType.TEXTAREA:
        limit = props.MAX_TEXTAREA_LENGTH if definition else FREE_TEXT_MAX_LENGTH
        return django_forms.CharField(
            max_length=limit, widget=django_forms.Textarea(attrs={"rows": 4}), **common
        )
    if kind == PropertyType.ENUMERATION:
        choices = [("", _("Please select"))] + [
            (option["value"], option["label"]) for option in definition.options
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
    autocomplete = {
        "first_name": "given-name",
        "last_name": "family-name",
        "phone": "tel",
        "company_name": "organization",
        "job_title": "organization-title",
    }
    if definition is not None and definition.name in autocomplete:
        widget.attrs["autocomplete"] = autocomplete[definition.name]
    return django_forms.CharField(max_length=props.MAX_TEXT_LENGTH, widget=widget, **common)


def form_fields(form: Form) -> list[FormField]:
    return list(form.fields.select_related("property").order_by("position", "id"))


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

    `answers` are the cleaned answers of `submission_form_class(form)`, by field key.
    Raises ValidationError (by field key) if a value is refused.
    """
    # One submission of a form at a time: two visitors sending the same new email at
    # once then make one contact, not two.
    form = Form.objects.select_for_update().get(pk=form.pk)
    fields = form_fields(form)
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
        email = props.normalize(_definition(fields, "email"), values["email"])
        contact = (
            Record.objects.filter(
                account_id=form.account_id, object_type=ObjectType.CONTACT, email=email
            )
            .order_by("id")
            .first()
        )
        created = contact is None
        if created:
            contact = services.record_create(
                account=form.account,
                object_type=ObjectType.CONTACT,
                values=values,
                source=source,
            )
        else:
            services.record_update(record=contact, values=values, source=source)
            contact.refresh_from_db()
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


def _definition(fields: list[FormField], name: str) -> PropertyDefinition:
    for field in fields:
        if field.property is not None and field.property.name == name:
            return field.property
    raise ValidationError({"email": [_("This form has no email field.")]})


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR: behind a reverse proxy, make the proxy set it (docs/crm-intake.md);
    # X-Forwarded-For is not trusted here, since a visitor can write it.
    return request.META.get("REMOTE_ADDR") or None


def rate_limited(form: Form, ip: str | None) -> bool:
    """Count this attempt; True once the IP went over the limit for this form."""
    key = f"intake:form-rate:{form.pk}:{ip or 'unknown'}"
    cache.add(key, 0, timeout=RATE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RATE_WINDOW_SECONDS)
        count = 1
    return count > RATE_LIMIT


# --- The public page ----------------------------------------------------------------


@login_not_required
@require_http_methods(["GET", "POST"])
def form_public(request: HttpRequest, key) -> HttpResponse:
    form = Form.objects.select_related("account").filter(public_key=key).first()
    if form is None:
        raise Http404
    context: dict[str, Any] = {"form": form}
    if not form.is_active:
        return render(request, "crm/intake/form_public_closed.html", context, status=410)
    fields = form_fields(form)
    SubmissionForm = submission_form_class(fields)
    if request.method == "GET":
        context["submission_form"] = SubmissionForm()
        return render(request, "crm/intake/form_public.html", context)

    ip = client_ip(request)
    if rate_limited(form, ip):
        return render(request, "crm/intake/form_public_limited.html", context, status=429)
    submission_form = SubmissionForm(request.POST)
    if request.POST.get(HONEYPOT):
        # A bot: answer like a success so it learns nothing, and keep nothing.
        return render(request, "crm/intake/form_public_thanks.html", context)
    if submission_form.is_valid():
        try:
            form_submission_create(
                form=form,
                answers=submission_form.cleaned_data,
                ip_address=ip,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ValidationError as error:
            _add_errors(submission_form, error)
        else:
            return render(request, "crm/intake/form_public_thanks.html", context)
    context["submission_form"] = submission_form
    return render(request, "crm/intake/form_public.html", context, status=400)


def _add_errors(django_form: django_forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for key, messages_ in error.message_dict.items():
            django_form.add_error(key if key in django_form.fields else None, messages_)
    else:
        django_form.add_error(None, error.messages)


# --- The builder (super admins) -----------------------------------------------------


class FormSettingsForm(django_forms.ModelForm):
    class Meta:
        model = Form
        fields = ["name", "title", "introduction", "submit_label", "thank_you_message", "is_active"]
        widgets = {
            "introduction": django_forms.Textarea(attrs={"rows": 3}),
            "thank_you_message": django_forms.Textarea(attrs={"rows": 3}),
        }


class AddFieldForm(django_forms.Form):
    NEW_PROPERTY = "__new__"
    FREE_TEXT = "__free__"

    source = django_forms.ChoiceField(label=gettext_lazy("Question"))
    label = django_forms.CharField(
        label=gettext_lazy("Label"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Leave empty to use the property's label."),
    )
    required = django_forms.BooleanField(label=gettext_lazy("Required"), required=False)

    def __init__(self, *args, definitions: list[PropertyDefinition], used: set[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.definitions = {str(d.pk): d for d in definitions if d.pk not in used}
        self.fields["source"].choices = [
            (
                gettext_lazy("Free-text questions"),
                [
                    (self.NEW_PROPERTY, _("Free text, saved to a new multi-line contact property")),
                    (self.FREE_TEXT, _("Free text, kept on the submission only")),
                ],
            ),
            (
                gettext_lazy("Contact properties"),
                [(pk, d.label) for pk, d in self.definitions.items()],
            ),
        ]

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("source")
        if source in (self.NEW_PROPERTY, self.FREE_TEXT) and not cleaned.get("label"):
            self.add_error("label", _("A free-text question needs a label."))
        return cleaned


def _admin_form(request: HttpRequest, pk: int) -> Form:
    return get_object_or_404(Form, pk=pk, account=account_for(request))


@forms_admin_required
@require_http_methods(["GET", "POST"])
def form_list(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:200]
        if not name:
            messages.error(request, _("Give the form a name."))
            return redirect("intake:form_list")
        form = form_create(account=account, name=name, created_by=request.user)
        messages.success(request, _("Form created. Add the questions visitors should answer."))
        return redirect("intake:form_edit", pk=form.pk)
    forms = (
        Form.objects.filter(account=account)
        .annotate(
            submission_count=Count("submissions"), last_submission=Max("submissions__created_at")
        )
        .order_by("-created_at")
    )
    return render(
        request, "crm/intake/form_list.html", {"forms": forms, "settings_section": "forms"}
    )


@transaction.atomic
def form_create(*, account: Account, name: str, created_by=None) -> Form:
    """A new form, already asking for the email (the contact's merge key)."""
    form = Form.objects.create(account=account, name=name, created_by=created_by)
    email = PropertyDefinition.objects.get(
        account=account, object_type=ObjectType.CONTACT, name="email"
    )
    FormField.objects.create(
        form=form, key="email", label=_("Email"), property=email, required=True, position=0
    )
    return form


@forms_admin_required
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = account_for(request)
    form = _admin_form(request, pk)
    fields = form_fields(form)
    definitions = [
        d
        for d in services.definitions_for(account, ObjectType.CONTACT).values()
        if d.type in FORM_PROPERTY_TYPES
    ]
    definitions.sort(key=lambda d: (not d.is_standard, d.position, d.label))
    used = {f.property_id for f in fields if f.property_id}
    settings_form = FormSettingsForm(instance=form)
    add_form = AddFieldForm(definitions=definitions, used=used)

    if request.method == "POST":
        if "save_settings" in request.POST:
            settings_form = FormSettingsForm(request.POST, instance=form)
            if settings_form.is_valid():
                settings_form.save()
                messages.success(request, _("Form settings saved."))
                return redirect("intake:form_edit", pk=form.pk)
        elif "add_field" in request.POST:
            add_form = AddFieldForm(request.POST, definitions=definitions, used=used)
            if add_form.is_valid():
                try:
                    form_field_add(
                        form=form,
                        fields=fields,
                        definitions=add_form.definitions,
                        **add_form.cleaned_data,
                    )
                except ValidationError as error:
                    add_form.add_error(None, error.messages)
                else:
                    messages.success(request, _("Question added."))
                    return redirect("intake:form_edit", pk=form.pk)
        else:
            field = _field_from_post(request, fields)
            if "remove_field" in request.POST:
                if field.is_email:
                    messages.error(
                        request, _("The email question is required: contacts are matched by email.")
                    )
                else:
                    field.delete()
                    messages.success(request, _("Question removed."))
            elif "toggle_required" in request.POST and not field.is_email:
                field.required = not field.required
                field.save(update_fields=["required"])
            elif "move_up" in request.POST or "move_down" in request.POST:
                _move(fields, field, -1 if "move_up" in request.POST else 1)
            return redirect("intake:form_edit", pk=form.pk)

    return render(
        request,
        "crm/intake/form_edit.html",
        {
            "form": form,
            "fields": fields,
            "settings_form": settings_form,
            "add_form": add_form,
            "public_url": request.build_absolute_uri(form.get_public_path()),
            "submission_count": form.submissions.count(),
            "settings_section": "forms",
        },
    )


def _field_from_post(request: HttpRequest, fields: list[FormField]) -> FormField:
    for field in fields:
        if str(field.pk) == request.POST.get("field"):
            return field
    raise Http404


def _move(fields: list[FormField], field: FormField, step: int) -> None:
    index = fields.index(field)
    other = index + step
    if 0 <= other < len(fields):
        fields[index], fields[other] = fields[other], fields[index]
        for position, item in enumerate(fields):
            item.position = position
        FormField.objects.bulk_update(fields, ["position"])


@transaction.atomic
def form_field_add(
    *,
    form: Form,
    fields: list[FormField],
    definitions: dict[str, PropertyDefinition],
    source: str,
    label: str,
    required: bool,
) -> FormField:
    position = max((f.position for f in fields), default=-1) + 1
    keys = {f.key for f in fields}
    if source == AddFieldForm.NEW_PROPERTY:
        definition = _textarea_property_for(form.account, label)
    elif source == AddFieldForm.FREE_TEXT:
        definition = None
    else:
        definition = definitions[source]
    key = definition.name if definition else _free_key(label, keys)
    if key in keys:
        raise ValidationError(
            _("This form already asks for “%(label)s”.") % {"label": label or definition.label}
        )
    return FormField.objects.create(
        form=form,
        key=key,
        label=label or definition.label,
        property=definition,
        required=required,
        position=position,
    )


def _free_key(label: str, taken: set[str]) -> str:
    base = slugify(label).replace("-", "_")[:80] or "question"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _textarea_property_for(account: Account, label: str) -> PropertyDefinition:
    """The multi-line contact property for a free-text question, created if needed."""
    name = slugify(label).replace("-", "_")[:80] or "question"
    existing = PropertyDefinition.objects.filter(
        account=account, object_type=ObjectType.CONTACT, name=name
    ).first()
    if existing is not None:
        if existing.type != PropertyType.TEXTAREA:
            raise ValidationError(
                _(
                    "A contact property “%(name)s” already exists and is not multi-line text. "
                    "Pick it from the list instead."
                )
                % {"name": existing.label}
            )
        return existing
    return PropertyDefinition.objects.create(
        account=account,
        object_type=ObjectType.CONTACT,
        name=name,
        label=label[:200],
        type=PropertyType.TEXTAREA,
        position=1000,
        description=_("Created for a form question."),
    )


@forms_admin_required
@require_GET
def form_submissions(request: HttpRequest, pk: int) -> HttpResponse:
    form = _admin_form(request, pk)
    fields = form_fields(form)
    page = Paginator(
        form.submissions.select_related("record").order_by("-created_at", "-id"), 50
    ).get_page(request.GET.get("page"))
    rows = [
        (submission, [submission.answers.get(f.key, "") for f in fields]) for submission in page
    ]
    return render(
        request,
        "crm/intake/form_submissions.html",
        {"form": form, "fields": fields, "page": page, "rows": rows, "settings_section": "forms"},
    )
