"""Tasks made by hand, from the task queue or a record page.

A task made on a record is linked to it and written to its timeline; a task assigned
to someone else notifies them, once (`crm.notifications.notify`, keyed by the task).
Workflow actions create their tasks themselves, keyed by the execution, in bulk
(`tasks_insert`, `task_links_insert`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
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


# Columns a workflow's task row is given; the rest take the model's defaults.
TASK_COLUMNS = {
    "account_id": "bigint",
    "title": "text",
    "type": "text",
    "priority": "text",
    "due_at": "timestamptz",
    "assignee_id": "bigint",
    "notes": "text",
    "idempotency_key": "text",
}


def tasks_insert(rows: list[dict[str, Any]], *, now: dt.datetime) -> list[int]:
    """Insert open tasks (each a dict of TASK_COLUMNS) and return their ids, in order.
    PostgreSQL: one INSERT … SELECT from the rows sent as one JSON array (the ORM's
    bulk_create built a model and quoted eight values per task: a fifth of a worker's
    time in a batch of Create task). A duplicate idempotency key raises IntegrityError,
    as bulk_create does."""
    if connection.vendor != "postgresql":
        tasks = [Task(**row, created_at=now) for row in rows]
        Task.objects.bulk_create(tasks)
        return [task.pk for task in tasks]
    for row in rows:
        if not row.get("idempotency_key"):
            raise ValueError("a task inserted in bulk needs its idempotency key")
    columns = ", ".join(TASK_COLUMNS)
    types = ", ".join(f"{name} {kind}" for name, kind in TASK_COLUMNS.items())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Task._meta.db_table} ({columns}, status, created_at) "
            f"SELECT {columns}, %s, %s FROM jsonb_to_recordset(%s::jsonb) AS t ({types}) "
            f"RETURNING id, idempotency_key",
            [Task.Status.OPEN.value, now, json.dumps(rows, cls=DjangoJSONEncoder)],
        )
        ids = {key: pk for pk, key in cursor.fetchall()}
    return [ids[row["idempotency_key"]] for row in rows]


def task_links_insert(links: list[tuple[int, int]]) -> None:
    """Link tasks to records: (task id, record id) pairs, in one INSERT."""
    through = Task.records.through
    if connection.vendor != "postgresql":
        through.objects.bulk_create([through(task_id=t, record_id=r) for t, r in links])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {through._meta.db_table} (task_id, record_id) "
            f"SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
            [
                "{" + ",".join(str(int(t)) for t, _r in links) + "}",
                "{" + ",".join(str(int(r)) for _t, r in links) + "}",
            ],
        )
