"""Joins the history branch (0003_execution_attempts) and the engine branch
(0003_engine_batch_claims).

On SQLite both rebuild the ledger tables (a new NOT NULL column; foreign keys without
database constraints), and a rebuild drops the raw-SQL history indexes of 0002, which
are not in the model state: make them again whatever order the two ran in
(`IF NOT EXISTS`: nothing to do on PostgreSQL). Since the squash, 0002 puts them in the
model state, so the rebuilds keep them and this is a no-op on SQLite too; it stays for
the old path (replaced by 0001_squashed_0004_merge_attempts_batch_claims)."""

from django.db import migrations

# The indexes of 0002_history_indexes (a migration must not import another by module).
INDEXES = [
    ("execution_history", "workflows_actionexecution", "workflow_id, created_at, id"),
    ("execution_history_status", "workflows_actionexecution",
     "workflow_id, status, created_at, id"),
    ("enrollment_history", "workflows_enrollment", "workflow_id, enrolled_at, id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0003_engine_batch_claims"),
        ("workflows", "0003_execution_attempts"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
            reverse_sql=migrations.RunSQL.noop,
        )
        for name, table, columns in INDEXES
    ]
