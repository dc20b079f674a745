"""Indexes for the history pages (keyset pagination, newest first):

- executions of a workflow by (created_at, id): the Action logs, unfiltered or filtered
  by date range / action type;
- executions of a workflow by (status, created_at, id): the Action logs filtered by
  succeeded / failed / skipped, and replays of failed runs;
- enrollments of a workflow by (enrolled_at, id): the Enrollment history.

Replaced by 0001_squashed_0004_merge_attempts_batch_claims, where they are model
`Meta.indexes`; this file runs only on an install that had applied 0001 but not 0002.
The database gets the plain SQL it always got (the same on SQLite and PostgreSQL). The
model state gets the same indexes (state_operations, added with the squash), so this
path ends in the squashed migration's state and a later SQLite table rebuild keeps them.
"""

from django.db import migrations, models

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
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
                    reverse_sql=f"DROP INDEX IF EXISTS {name}",
                )
                for name, table, columns in INDEXES
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="actionexecution",
                    index=models.Index(fields=["workflow", "created_at", "id"], name="execution_history"),
                ),
                migrations.AddIndex(
                    model_name="actionexecution",
                    index=models.Index(
                        fields=["workflow", "status", "created_at", "id"], name="execution_history_status"
                    ),
                ),
                migrations.AddIndex(
                    model_name="enrollment",
                    index=models.Index(fields=["workflow", "enrolled_at", "id"], name="enrollment_history"),
                ),
            ],
        )
    ]
