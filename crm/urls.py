from django.contrib.auth import views as auth_views
from django.urls import path

from crm.views import (
    ai_data,
    audit_log,
    notifications,
    properties,
    record_page,
    records,
    security,
    shell,
    signin,
    tasks,
)

app_name = "crm"

urlpatterns = [
    path("", shell.home, name="home"),
    path("login/", signin.SignInView.as_view(), name="login"),
    path("login/code/", signin.login_code, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", signin.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", signin.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="registration/password_reset_done.html"
        ),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        signin.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    # Records
    path("objects/<slug:object_type>/", records.record_list, name="record_list"),
    path("objects/<slug:object_type>/new/", records.record_create, name="record_create"),
    path("objects/<slug:object_type>/bulk/", records.record_bulk, name="record_bulk"),
    path(
        "objects/<slug:object_type>/deleted/",
        records.record_deleted_list,
        name="record_deleted",
    ),
    path(
        "objects/<slug:object_type>/filter-fields/",
        records.record_filter_fields,
        name="record_filter_fields",
    ),
    path("objects/<slug:object_type>/<id:pk>/", record_page.record_detail, name="record_detail"),
    path(
        "objects/<slug:object_type>/<id:pk>/properties/<slug:name>/",
        record_page.record_property,
        name="record_property",
    ),
    path(
        "objects/<slug:object_type>/<id:pk>/timeline/",
        record_page.record_timeline,
        name="record_timeline",
    ),
    path("objects/<slug:object_type>/<id:pk>/notes/", record_page.record_note, name="record_note"),
    path(
        "objects/<slug:object_type>/<id:pk>/associations/",
        record_page.record_associations,
        name="record_associations",
    ),
    path(
        "objects/<slug:object_type>/<id:pk>/associations/search/",
        record_page.record_association_search,
        name="record_association_search",
    ),
    # Tasks
    path("tasks/", tasks.task_list, name="task_list"),
    path("tasks/new/", tasks.task_create, name="task_create"),
    path("tasks/<id:pk>/", tasks.task_detail, name="task_detail"),
    path("tasks/<id:pk>/complete/", tasks.task_complete, name="task_complete"),
    # Notifications
    path("notifications/", notifications.notification_list, name="notification_list"),
    path("notifications/<id:pk>/open/", notifications.notification_open, name="notification_open"),
    path(
        "notifications/read-all/",
        notifications.notifications_read_all,
        name="notifications_read_all",
    ),
    # Settings
    path("settings/", shell.settings_home, name="settings_home"),
    path("settings/users/", shell.settings_users, name="settings_users"),
    path("settings/two-factor/", security.two_factor, name="two_factor"),
    path("settings/audit-log/", audit_log.audit_log, name="audit_log"),
    path("settings/audit-log/export.csv", audit_log.audit_log_csv, name="audit_log_csv"),
    path("settings/properties/", properties.property_list, name="property_list"),
    path("settings/ai-data/", ai_data.ai_data, name="ai_data"),
    path("settings/properties/new/", properties.property_create, name="property_create"),
    path("settings/properties/<id:pk>/", properties.property_edit, name="property_edit"),
    path(
        "settings/properties/<id:pk>/delete/",
        properties.property_delete,
        name="property_delete",
    ),
]
