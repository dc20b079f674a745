"""ActionExecution.attempts: the failed, retried and postponed attempts of a step, for
the run detail's "every attempt with its error and wait" (issue 9).

Adding a column with a constant default is a catalogue-only change on PostgreSQL 11+:
no table rewrite, whatever the size of the ledger. The database default (`[]`) keeps
bulk SQL inserts that do not name the column working.

SQLite cannot add a NOT NULL column in place: Django rebuilds the table, which drops the
history indexes of 0002 (they are not in the model state), so they are made again here
(`IF NOT EXISTS`: nothing to do on PostgreSQL). Since the squash, 0002 puts them in the
model state, so the rebuild keeps them and this is a no-op on SQLite too; it stays for
the old path (replaced by 0001_squashed_0004_merge_attempts_batch_claims)."""

from django.db import migrations, models

EXECUTION_INDEXES = [
    ("execution_history", "workflow_id, created_at, id"),
    ("execution_history_status", "workflow_id, status, created_at, id"),
]


class Migration(migrations.Migration):
    dependencies = [("workflows", "0002_history_indexes")]

    operations = [
        migrations.AddField(
            model_name="actionexecution",
            name="attempts",
            field=models.JSONField(
                blank=True,
                default=list,
                db_default=models.Value([], output_field=models.JSONField()),
            ),
        ),
        *(
            migrations.RunSQL(
                sql=f"CREATE INDEX IF NOT EXISTS {name} ON workflows_actionexecution ({columns})",
                reverse_sql=migrations.RunSQL.noop,
            )
            for name, columns in EXECUTION_INDEXES
        ),
    ]
