from django.urls import path

from workflows import history_views, status_views

app_name = "history"

urlpatterns = [
    path("workflows/<int:workflow_id>/history/", history_views.action_logs, name="logs"),
    path(
        "workflows/<int:workflow_id>/history/enrollments/",
        history_views.enrollment_history,
        name="enrollments",
    ),
    path(
        "workflows/<int:workflow_id>/history/runs/<int:enrollment_id>/",
        history_views.run_detail,
        name="run",
    ),
    path("workflows/<int:workflow_id>/history/replay/", history_views.replay, name="replay"),
    path("workflows/<int:workflow_id>/live/", history_views.live_counts, name="live"),
    path("system/status/", status_views.system_status, name="status"),
]
