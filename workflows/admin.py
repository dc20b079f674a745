"""Debugging views of the ledger (the product's history pages are built elsewhere)."""

from django.contrib import admin

from workflows.models import ActionExecution, Enrollment, Workflow, WorkflowVersion


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "object_type", "is_enabled", "version"]
    list_filter = ["is_enabled", "object_type"]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    list_display = ["workflow", "number", "created_at"]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "workflow", "record", "status", "source", "enrolled_at"]
    list_filter = ["status", "source"]
    raw_id_fields = ["record", "workflow", "version"]


@admin.register(ActionExecution)
class ActionExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "workflow",
        "step_id",
        "action_type",
        "status",
        "attempt",
        "due_at",
        "finished_at",
    ]
    list_filter = ["status", "action_type", "queue"]
    raw_id_fields = ["enrollment", "workflow"]
