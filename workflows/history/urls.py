"""The history pages (namespace `history`; docs/history.md lists who may see each)."""

from django.urls import path

from workflows.history import views

app_name = "history"

urlpatterns = [
    path("workflows/<id:workflow_id>/history/", views.action_logs, name="logs"),
    path(
        "workflows/<id:workflow_id>/history/enrollments/",
        views.enrollment_history,
        name="enrollments",
    ),
    path(
        "workflows/<id:workflow_id>/history/runs/<id:enrollment_id>/",
        views.run_detail,
        name="run",
    ),
    path("workflows/<id:workflow_id>/history/replay/", views.replay, name="replay"),
    path("workflows/<id:workflow_id>/live/", views.live_counts, name="live"),
    path("system/status/", views.system_status, name="status"),
]
