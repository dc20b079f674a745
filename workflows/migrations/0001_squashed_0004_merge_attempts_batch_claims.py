"""The workflows schema in one step: 0001_initial to 0004_merge_attempts_batch_claims,
squashed (`manage.py squashmigrations workflows 0004`, then written out by hand).

Every index and constraint is in the models' `Meta` and so in the CreateModel options
below, the same on SQLite and PostgreSQL; no RunSQL is needed. What the old path built
in steps, and what this one builds at once:

- the history indexes (execution_history, execution_history_status,
  enrollment_history) were raw SQL in 0002 (outside the model state, so each SQLite
  table rebuild of 0003 dropped them and 0003/0004 made them again): now `Meta.indexes`;
- the pending/running indexes are partial (`condition=Q(...)`), as 0003_engine_batch_claims
  left them; execution_due, execution_lease and execution_by_workflow are gone;
- the ledger's foreign keys (Enrollment.workflow/version/record, ActionExecution.enrollment/
  workflow) have neither a database constraint nor an index of their own, as 0003 left them;
- ActionExecution.attempts has the database default `[]` (0003_execution_attempts).
Columns are in the order an upgraded PostgreSQL database has them.

New installs run this migration only. An install that applied all of the old ones has
it marked applied without running anything; one that applied some runs the rest of the
old ones. So the old files stay until every install has run `migrate` past 0004; then
they can be deleted, with this migration's `replaces` (see Django's "Squashing
migrations"). A later migration may depend on this one or on any it replaces.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [
        ("workflows", "0001_initial"),
        ("workflows", "0002_history_indexes"),
        ("workflows", "0003_execution_attempts"),
        ("workflows", "0003_engine_batch_claims"),
        ("workflows", "0004_merge_attempts_batch_claims"),
    ]

    initial = True

    dependencies = [
        ("crm", "0002_intake_forms_import_api"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Workflow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("object_type", models.CharField(choices=[("contact", "Contact"), ("company", "Company"), ("deal", "Deal"), ("ticket", "Ticket")], max_length=10, verbose_name="object")),
                ("name", models.CharField(max_length=200, verbose_name="name")),
                ("description", models.TextField(blank=True, verbose_name="description")),
                ("is_enabled", models.BooleanField(default=False, verbose_name="turned on")),
                ("criteria", models.JSONField(blank=True, default=list, verbose_name="enrollment criteria")),
                ("form_id", models.BigIntegerField(blank=True, null=True, verbose_name="submitted form")),
                ("re_enroll", models.BooleanField(default=False, help_text="When on, a record that stops matching and matches again enrolls again.", verbose_name="re-enroll records that match again")),
                ("graph", models.JSONField(blank=True, default=dict)),
                ("version", models.PositiveIntegerField(default=0)),
                ("bulk_total", models.PositiveIntegerField(blank=True, null=True)),
                ("bulk_done", models.PositiveIntegerField(default=0)),
                ("bulk_finished_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.account")),
                ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "verbose_name": "workflow",
                "verbose_name_plural": "workflows",
                "indexes": [
                    models.Index(fields=["account", "object_type", "is_enabled"], name="workflow_live"),
                ],
            },
        ),
        migrations.CreateModel(
            name="WorkflowVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("graph", models.JSONField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("workflow", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="versions", to="workflows.workflow")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("workflow", "number"), name="unique_workflow_version"),
                ],
            },
        ),
        # Workflow and WorkflowVersion point at each other: the second key comes after both.
        migrations.AddField(
            model_name="workflow",
            name="live_version",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="workflows.workflowversion"),
        ),
        migrations.CreateModel(
            name="Enrollment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(choices=[("active", "Active"), ("completed", "Completed"), ("failed", "Failed"), ("unenrolled", "Unenrolled")], default="active", max_length=12)),
                ("source", models.CharField(choices=[("trigger", "Met the criteria"), ("bulk", "Matched when turned on"), ("form", "Submitted the form"), ("manual", "Enrolled manually")], default="trigger", max_length=10)),
                ("enrolled_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("record", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="crm.record")),
                ("workflow", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="enrollments", to="workflows.workflow")),
                ("version", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="workflows.workflowversion")),
            ],
            options={
                "verbose_name": "enrollment",
                "verbose_name_plural": "enrollments",
                "constraints": [
                    models.UniqueConstraint(condition=models.Q(("status", "active")), fields=("workflow", "record"), name="one_active_enrollment"),
                ],
                "indexes": [
                    models.Index(fields=["record", "workflow"], name="enrollment_by_record"),
                    models.Index(fields=["workflow", "enrolled_at", "id"], name="enrollment_history"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ActionExecution",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("step_id", models.PositiveIntegerField()),
                ("action_type", models.CharField(max_length=100)),
                ("queue", models.CharField(default="default", max_length=50)),
                ("status", models.CharField(choices=[("pending", "Pending"), ("running", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed"), ("skipped", "Skipped"), ("cancelled", "Cancelled")], default="pending", max_length=10)),
                ("attempt", models.PositiveIntegerField(default=0)),
                ("due_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("lease_expires_at", models.DateTimeField(blank=True, null=True)),
                ("last_sent_at", models.DateTimeField(blank=True, null=True)),
                ("inputs", models.JSONField(blank=True, default=dict)),
                ("outputs", models.JSONField(blank=True, default=dict)),
                ("usage", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("replays", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("enrollment", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="executions", to="workflows.enrollment")),
                ("workflow", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="workflows.workflow")),
                ("attempts", models.JSONField(blank=True, db_default=models.Value([], output_field=models.JSONField()), default=list)),
            ],
            options={
                "verbose_name": "action execution",
                "verbose_name_plural": "action executions",
                "constraints": [
                    models.UniqueConstraint(fields=("enrollment", "step_id"), name="one_execution_per_step"),
                ],
                "indexes": [
                    models.Index(condition=models.Q(("status", "pending")), fields=["due_at"], name="execution_pending_due"),
                    models.Index(condition=models.Q(("status", "running")), fields=["lease_expires_at"], name="execution_running_lease"),
                    models.Index(fields=["workflow", "created_at", "id"], name="execution_history"),
                    models.Index(fields=["workflow", "status", "created_at", "id"], name="execution_history_status"),
                ],
            },
        ),
        migrations.CreateModel(
            name="EmailDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("recipient", models.EmailField(max_length=254)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("execution", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="workflows.actionexecution")),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("execution", "recipient"), name="one_email_per_recipient"),
                ],
            },
        ),
    ]
