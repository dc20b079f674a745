"""Intake: forms (builder and public page), CSV import, API tokens."""

from django.urls import path

from crm import api, views_forms, views_import

app_name = "intake"

urlpatterns = [
    # Public: no login (each view is marked login_not_required).
    path("f/<uuid:key>/", views_forms.form_public, name="form_public"),
    # Settings (super admins).
    path("settings/forms/", views_forms.form_list, name="form_list"),
    path("settings/forms/<int:pk>/", views_forms.form_edit, name="form_edit"),
    path(
        "settings/forms/<int:pk>/submissions/",
        views_forms.form_submissions,
        name="form_submissions",
    ),
    path("settings/import/", views_import.import_list, name="import_list"),
    path("settings/import/<int:pk>/", views_import.import_detail, name="import_detail"),
    path("settings/import/<int:pk>/mapping/", views_import.import_mapping, name="import_mapping"),
    path("settings/api-tokens/", api.api_tokens, name="api_tokens"),
]
