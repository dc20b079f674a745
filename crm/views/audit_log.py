"""Settings › Audit log (super admins): the account's audit events, filtered by who,
what and when, and the same list as CSV (cells a spreadsheet never runs as formulas)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET

from crm.access import account_for, super_admin_required
from crm.audit import csv_cell
from crm.models import Account, AuditAction, AuditEvent

PER_PAGE = 100


class AuditFilterForm(forms.Form):
    who = forms.ChoiceField(label=gettext_lazy("Who"), required=False)
    what = forms.ChoiceField(label=gettext_lazy("What"), required=False)
    since = forms.DateField(
        label=pgettext_lazy("date range", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=pgettext_lazy("date range", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, data, *, account: Account) -> None:
        super().__init__(data)
        names = (
            AuditEvent.objects.filter(account=account)
            .exclude(actor_name="")
            .values_list("actor_name", flat=True)
            .distinct()
            .order_by("actor_name")
        )
        self.fields["who"].choices = [("", _("Anyone")), *((name, name) for name in names)]
        self.fields["what"].choices = [("", _("Anything")), *AuditAction.choices]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("“From” is after “To”: swap the two dates."))
        return data

    def events(self, account: Account) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.filter(account=account).order_by("-created_at", "-pk")
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("who"):
            events = events.filter(actor_name=data["who"])
        if data.get("what"):
            events = events.filter(action=data["what"])
        zone = timezone.get_current_timezone()
        if data.get("since"):
            events = events.filter(
                created_at__gte=dt.datetime.combine(data["since"], dt.time.min, tzinfo=zone)
            )
        if data.get("until"):
            end = data["until"] + dt.timedelta(days=1)
            events = events.filter(
                created_at__lt=dt.datetime.combine(end, dt.time.min, tzinfo=zone)
            )
        return events


def detail_text(event: AuditEvent) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(event.detail.items()))


@require_GET
@super_admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    form = AuditFilterForm(request.GET or None, account=account)
    if form.is_bound:
        form.is_valid()
    page = Paginator(form.events(account), PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "crm/audit_log.html",
        {
            "settings_section": "audit_log",
            "form": form,
            "page": page,
            "rows": [(event, detail_text(event)) for event in page],
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@super_admin_required
def audit_log_csv(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    form = AuditFilterForm(request.GET or None, account=account)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            " ".join(str(e) for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    events = form.events(account)
    writer = csv.writer(_Echo())
    # Translated now: the rows are written after this view returns.
    header = [
        _("When"),
        _("Who"),
        _("What"),
        pgettext("audit log: acted on", "On"),
        _("Detail"),
        _("Address"),
    ]
    labels = {value: str(label) for value, label in AuditAction.choices}

    def rows() -> Iterator[str]:
        yield writer.writerow(header)
        for event in events.iterator(chunk_size=1000):
            yield writer.writerow(
                [
                    csv_cell(value)
                    for value in (
                        date_format(timezone.localtime(event.created_at), "c"),
                        event.actor_name,
                        labels.get(event.action, event.action),
                        event.target,
                        detail_text(event),
                        event.ip_address,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response
