"""Fewer indexes and constraints to maintain on the ledger's hot paths (bulk fan-out,
claim, completion); see docs/engine.md, "Indexes and constraints".

- The pending/running indexes become partial: they hold only pending rows (by due time)
  and running rows (by lease), not the millions of finished ones.
- execution_by_workflow (workflow, status) is a prefix of execution_history_status
  (migration 0002); the single-column foreign-key indexes of enrollment/workflow/record
  are prefixes of composite indexes.
- The database no longer checks the foreign keys of Enrollment and ActionExecution
  (Django still emulates on_delete): those checks ran at COMMIT, one
  `SELECT … FOR KEY SHARE` per inserted row and key, and were most of a bulk
  enrollment's time.

Only drops (and two small partial indexes): quick on a large ledger.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0002_intake_forms_import_api'),
        ('workflows', '0002_history_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='actionexecution',
            name='execution_due',
        ),
        migrations.RemoveIndex(
            model_name='actionexecution',
            name='execution_lease',
        ),
        migrations.RemoveIndex(
            model_name='actionexecution',
            name='execution_by_workflow',
        ),
        migrations.AlterField(
            model_name='actionexecution',
            name='enrollment',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='executions', to='workflows.enrollment'),
        ),
        migrations.AlterField(
            model_name='actionexecution',
            name='workflow',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workflows.workflow'),
        ),
        migrations.AlterField(
            model_name='enrollment',
            name='record',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.record'),
        ),
        migrations.AlterField(
            model_name='enrollment',
            name='version',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='workflows.workflowversion'),
        ),
        migrations.AlterField(
            model_name='enrollment',
            name='workflow',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='enrollments', to='workflows.workflow'),
        ),
        migrations.AddIndex(
            model_name='actionexecution',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['due_at'], name='execution_pending_due'),
        ),
        migrations.AddIndex(
            model_name='actionexecution',
            index=models.Index(condition=models.Q(('status', 'running')), fields=['lease_expires_at'], name='execution_running_lease'),
        ),
    ]
