"""Forms: the builder pages for super admins and the public page visitors submit.

Building lives in `crm.webforms`, submitting in `crm.submissions` (shared with the API).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from crm import proof_of_work, submissions, webforms
from crm.access import account_for, form_for, require_roles
from crm.forms import AddFieldForm, FormSettingsForm
from crm.models import Form, FormField, Role

forms_admin_required = require_roles(
    Role.SUPER_ADMIN, message=gettext_lazy("Only super admins can manage forms.")
)


# --- The public page ----------------------------------------------------------------


@login_not_required
@require_http_methods(["GET", "POST"])
def form_public(request: HttpRequest, key: UUID) -> HttpResponse:
    # No account here: knowing the form's random public key is the access.
    form = Form.objects.select_related("account").filter(public_key=key).first()
    if form is None:
        raise Http404
    context: dict[str, Any] = {"form": form}
    if not form.is_active:
        return render(request, "crm/intake/form_public_closed.html", context, status=410)
    SubmissionForm = submissions.submission_form_class(form.fields_in_order())
    if form.proof_of_work:
        context["proof_of_work"] = proof_of_work.challenge_issue(form_id=form.pk)
    if request.method == "GET":
        context["submission_form"] = SubmissionForm()
        return render(request, "crm/intake/form_public.html", context)

    ip = submissions.client_ip(request)
    if submissions.rate_limited(form=form, ip=ip):
        return render(request, "crm/intake/form_public_limited.html", context, status=429)
    submission_form = SubmissionForm(request.POST)
    if request.POST.get(submissions.HONEYPOT):
        # A bot: answer like a success so it learns nothing, and keep nothing.
        return render(request, "crm/intake/form_public_thanks.html", context)
    if submission_form.is_valid() and form.proof_of_work:
        refused = proof_of_work.solution_check(
            form_id=form.pk,
            challenge=request.POST.get(proof_of_work.CHALLENGE_FIELD, ""),
            counter=request.POST.get(proof_of_work.COUNTER_FIELD, ""),
        )
        if refused:
            submission_form.add_error(None, refused)
    if submission_form.is_valid():
        if submissions.hourly_cap_reached(form=form):
            context["form_busy"] = True
            return render(request, "crm/intake/form_public_limited.html", context, status=429)
        try:
            submissions.form_submission_create(
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


@forms_admin_required
@require_http_methods(["GET", "POST"])
def form_list(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:200]
        if not name:
            messages.error(request, _("Give the form a name."))
            return redirect("intake:form_list")
        form = webforms.form_create(account=account, name=name, created_by=request.user)
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


@forms_admin_required
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    form = form_for(request, pk)
    fields = form.fields_in_order()
    offered = webforms.properties_offered(form=form, fields=fields)
    settings_form = FormSettingsForm(instance=form)
    add_form = AddFieldForm(definitions=offered)

    if request.method == "POST":
        if "save_settings" in request.POST:
            settings_form = FormSettingsForm(request.POST, instance=form)
            if settings_form.is_valid():
                settings_form.save()
                messages.success(request, _("Form settings saved."))
                return redirect("intake:form_edit", pk=form.pk)
        elif "add_field" in request.POST:
            add_form = AddFieldForm(request.POST, definitions=offered)
            if add_form.is_valid():
                try:
                    webforms.form_field_add(form=form, **add_form.cleaned_data)
                except ValidationError as error:
                    add_form.add_error(None, error.messages)
                else:
                    messages.success(request, _("Question added."))
                    return redirect("intake:form_edit", pk=form.pk)
        else:
            field = _field_from_post(request, fields)
            if "remove_field" in request.POST:
                try:
                    webforms.form_field_remove(field=field)
                except ValidationError as error:
                    messages.error(request, " ".join(error.messages))
                else:
                    messages.success(request, _("Question removed."))
            elif "toggle_required" in request.POST:
                webforms.form_field_required_toggle(field=field)
            elif "move_up" in request.POST or "move_down" in request.POST:
                webforms.form_field_move(field=field, step=-1 if "move_up" in request.POST else 1)
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
    """The question the button belongs to, among this form's; 404 otherwise."""
    for field in fields:
        if str(field.pk) == request.POST.get("field"):
            return field
    raise Http404


@forms_admin_required
@require_GET
def form_submissions(request: HttpRequest, pk: int) -> HttpResponse:
    form = form_for(request, pk)
    fields = form.fields_in_order()
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
