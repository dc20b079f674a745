"""CSV import pages: upload → map columns → progress and results.

The job's life is `crm.imports`; reading the file, `crm.import_files`.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from crm import import_files, imports, services
from crm.access import account_for, import_job_for, require_permission
from crm.audit import AuditAction, audit_record
from crm.forms import UploadForm
from crm.models import ImportJob, ObjectType
from crm.tasks import import_enqueue

import_admin_required = require_permission(
    "can_import",
    message=gettext_lazy(
        "Your role cannot import records. A super admin can allow it in Settings › Users & roles."
    ),
)


@import_admin_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    form = UploadForm()
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = imports.import_job_create(
                    account=account,
                    object_type=form.cleaned_data["object_type"],
                    upload=form.cleaned_data["file"],
                    created_by=request.user,
                )
            except ValidationError as error:
                form.add_error("file", error.messages)
            else:
                return redirect("intake:import_mapping", pk=job.pk)
    jobs = ImportJob.objects.filter(account=account).defer("content").order_by("-created_at")[:50]
    return render(
        request,
        "crm/intake/import_list.html",
        {
            "form": form,
            "jobs": jobs,
            "max_mb": import_files.MAX_FILE_BYTES // 1024 // 1024,
            "settings_section": "import",
        },
    )


@import_admin_required
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    job = import_job_for(request, pk, with_content=True)
    if job.status != ImportJob.Status.MAPPING:
        return redirect(job)
    definitions = services.definitions_for(job.account, job.object_type)
    mapping = dict(job.mapping)
    error = ""
    if request.method == "POST":
        chosen = {str(i): request.POST.get(f"column_{i}", "") for i in range(len(job.headers))}
        mapping = {index: name for index, name in chosen.items() if name in definitions}
        try:
            with transaction.atomic():
                imports.import_mapping_save(job=job, mapping=mapping)
                audit_record(
                    action=AuditAction.IMPORT_STARTED,
                    request=request,
                    target=job.file_name,
                    detail={"object_type": job.object_type, "rows": job.total_rows},
                )
        except ValidationError as refused:
            error = " ".join(refused.messages)
        else:
            import_enqueue(job.pk)
            return redirect(job)
    merge_key = {ObjectType.CONTACT: "email", ObjectType.COMPANY: "domain"}[job.object_type]
    columns = [
        {
            "index": index,
            "header": header,
            "samples": samples,
            "chosen": mapping.get(str(index), ""),
        }
        for index, (header, samples) in enumerate(
            zip(job.headers, import_files.samples(job), strict=False)
        )
    ]
    return render(
        request,
        "crm/intake/import_mapping.html",
        {
            "job": job,
            "columns": columns,
            "properties": sorted(
                definitions.values(), key=lambda d: (not d.is_standard, d.position, d.label)
            ),
            "error": error,
            "merge_key_label": definitions[merge_key].label
            if merge_key in definitions
            else merge_key,
            "merge_key_mapped": merge_key in mapping.values(),
            "settings_section": "import",
        },
    )


@import_admin_required
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = import_job_for(request, pk)
    if job.status == ImportJob.Status.MAPPING:
        return redirect("intake:import_mapping", pk=job.pk)
    if request.method == "POST" and "resume" in request.POST:
        if imports.import_resume(job):
            import_enqueue(job.pk)
            messages.success(
                request, _("The import continues from row %(row)d.") % {"row": job.rows_done + 2}
            )
        return redirect(job)
    context = {"job": job, "stalled": job.is_stalled, "settings_section": "import"}
    if request.htmx:
        return render(request, "crm/intake/import_detail.html#import-progress", context)
    return render(request, "crm/intake/import_detail.html", context)
