"""Indexes for the history pages (keyset pagination, newest first):

- executions of a workflow by (created_at, id): the Action logs, unfiltered or filtered
  by date range / action type;
- executions of a workflow by (status, created_at, id): the Action logs filtered by
  succeeded / failed / skipped, and replays of failed runs;
- enrollments of a workflow by (enrolled_at, id): the Enrollment history.

Plain SQL (the same on SQLite and PostgreSQL) rather than `Meta.indexes`, so the models
module — the engine's — stays untouched; the model state does not need them.
"""

from django.db import migrations

INDEXES = [
    ("execution_history", "workflows_actionexecution", "workflow_id, created_at, id"),
    (
        "execution_history_status",
        "workflows_actionexecution",
        "workflow_id, status, created_at, id",
    ),
    ("enrollment_history", "workflows_enrollment", "workflow_id, enrolled_at, id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, columns in INDEXES
    ]
