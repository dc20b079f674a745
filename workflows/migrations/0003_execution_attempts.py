"""ActionExecution.attempts: the failed, retried and postponed attempts of a step, for
the run detail's "every attempt with its error and wait" (issue 9).

Adding a column with a constant default is a catalogue-only change on PostgreSQL 11+:
no table rewrite, whatever the size of the ledger."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workflows", "0002_history_indexes")]

    operations = [
        migrations.AddField(
            model_name="actionexecution",
            name="attempts",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
