"""Intake: forms (builder and public page), CSV import, API tokens."""

from django.urls import path

from crm.views import api_tokens, forms, imports

app_name = "intake"

urlpatterns = [
    # Public: no login (each view is marked login_not_required).
    path("f/<uuid:key>/", forms.form_public, name="form_public"),
    # Settings (super admins).
    path("settings/forms/", forms.form_list, name="form_list"),
    path("settings/forms/<id:pk>/", forms.form_edit, name="form_edit"),
    path(
        "settings/forms/<id:pk>/submissions/",
        forms.form_submissions,
        name="form_submissions",
    ),
    path("settings/import/", imports.import_list, name="import_list"),
    path("settings/import/<id:pk>/", imports.import_detail, name="import_detail"),
    path("settings/import/<id:pk>/mapping/", imports.import_mapping, name="import_mapping"),
    path("settings/api-tokens/", api_tokens.api_tokens, name="api_tokens"),
]
