"""The task queue ("My tasks" / "All"), creating tasks, and marking them complete."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import activities
from crm.access import account_for, record_for, require_account, task_for
from crm.forms import TaskForm
from crm.models import Role, Task
from crm.views.common import parse_id, safe_next

TASKS_PER_PAGE = 50
DUE_FILTERS = ("overdue", "today", "week")


def _can_change(user, task: Task) -> bool:
    """Reps change their own tasks (assigned or created); admins and builders any."""
    return user.role != Role.SALES_REP or user.pk in (task.assignee_id, task.created_by_id)


@require_GET
@require_account
def task_list(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    view = "all" if request.GET.get("view") == "all" else "mine"
    status = request.GET.get("status", "open")
    status = status if status in ("open", "completed", "all") else "open"
    due = request.GET.get("due", "")
    due = due if due in DUE_FILTERS else ""
    tasks = Task.objects.filter(account=account)
    if view == "mine":
        tasks = tasks.filter(assignee=request.user)
    if status != "all":
        tasks = tasks.filter(status=status)
    now = timezone.now()
    end_of_today = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    if due == "overdue":
        tasks = tasks.filter(due_at__lt=now, status=Task.Status.OPEN)
    elif due == "today":
        tasks = tasks.filter(
            due_at__lte=end_of_today, due_at__gte=end_of_today - dt.timedelta(days=1)
        )
    elif due == "week":
        tasks = tasks.filter(due_at__lte=end_of_today + dt.timedelta(days=7))
    tasks = tasks.select_related("assignee").prefetch_related("records").order_by("due_at", "-id")
    paginator = Paginator(tasks, TASKS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "section": "crm",
        "view": view,
        "status": status,
        "due": due,
        "page": page,
        "now": now,
        "form": TaskForm(account=account, initial={"assignee": request.user}),
        "state": {"view": view, "status": status, "due": due},
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "crm/task_list.html#task_table", context)
    return render(request, "crm/task_list.html", context)


@require_http_methods(["GET", "POST"])
@require_account
def task_create(request: HttpRequest) -> HttpResponse:
    account = account_for(request)
    record_id = parse_id(request.POST.get("record") or request.GET.get("record"))
    try:
        record = record_for(request, record_id) if record_id else None
    except Http404:
        record = None  # deleted meanwhile, or another account's: the task is made alone
    form = TaskForm(request.POST or None, account=account, initial={"assignee": request.user})
    if request.method == "POST" and form.is_valid():
        task = activities.task_create(
            account=account, actor=request.user, record=record, **form.cleaned_data
        )
        messages.success(request, _("Task “%(title)s” was created.") % {"title": task.title})
        fallback = (
            reverse("crm:record_detail", args=[record.slug, record.pk])
            if record
            else reverse("crm:task_list")
        )
        return redirect(safe_next(request, fallback))
    return render(
        request,
        "crm/task_form.html",
        {
            "section": "crm",
            "form": form,
            "record": record,
            "next": safe_next(request, ""),
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@require_account
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One task: what, for which records, who, when, notes, status; edit and complete."""
    task = task_for(request, pk)
    can_change = _can_change(request.user, task)
    form = TaskForm(
        request.POST if request.method == "POST" else None,
        instance=task,
        account=account_for(request),
    )
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied(_("Only the assignee or the creator can change this task."))
        if form.is_valid():
            form.save()
            messages.success(request, _("Task “%(title)s” was saved.") % {"title": task.title})
            return redirect("crm:task_detail", pk=task.pk)
    return render(
        request,
        "crm/task_detail.html",
        {
            "section": "crm",
            "task": task,
            "records": list(task.records.order_by("object_type", "name")[:50]),
            "form": form,
            "can_change": can_change,
            "editing": request.method == "POST" or request.GET.get("edit") == "1",
            "now": timezone.now(),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@require_account
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_for(request, pk)
    if not _can_change(request.user, task):
        raise PermissionDenied(_("Only the assignee or the creator can change this task."))
    if request.POST.get("action") == "reopen":
        task.reopen()
    else:
        task.complete()
    if request.htmx:
        return render(request, "crm/task_list.html#task_row", {"task": task, "now": timezone.now()})
    return redirect(safe_next(request, reverse("crm:task_list")))
