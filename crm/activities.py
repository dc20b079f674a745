"""Tasks made by hand, from the task queue or a record page.

A task made on a record is linked to it and written to its timeline; a task assigned
to someone else notifies them, once (`crm.notifications.notify`, keyed by the task).
Workflow actions create their tasks themselves, keyed by the execution.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_noop

from crm.models import Account, Record, Task, TimelineEvent, User
from crm.notifications import Message, notify


@transaction.atomic
def task_create(
    *,
    account: Account,
    actor: User,
    title: str,
    type: str = Task.Type.TODO,
    priority: str = Task.Priority.NONE,
    due_at: dt.datetime | None = None,
    assignee: User | None = None,
    notes: str = "",
    record: Record | None = None,
) -> Task:
    task = Task.objects.create(
        account=account,
        created_by=actor,
        title=title,
        type=type,
        priority=priority,
        due_at=due_at,
        assignee=assignee,
        notes=notes,
    )
    if record is not None:
        task.records.add(record)
        TimelineEvent.objects.create(
            account=account,
            record=record,
            kind=TimelineEvent.Kind.TASK,
            data={"task_id": task.pk, "title": task.title},
            actor=actor,
            source="ui",
        )
    if assignee is not None and assignee.pk != actor.pk:
        notify(
            account=account,
            recipients=[assignee],
            title=Message(
                gettext_noop("%(user)s assigned you a task: %(title)s"),
                {"user": actor, "title": title},
            ),
            body=notes,
            url=reverse("crm:task_detail", args=[task.pk]),
            idempotency_key=f"task-assigned:{task.pk}",
        )
    return task
