from django.contrib import admin
from django.urls import include, path

from crm.api import api_urls
from crm.views.shell import language_set

urlpatterns = [
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
    # Django's set_language, keeping the signed-in user's choice too.
    path("i18n/setlang/", language_set, name="set_language"),
    path("api/v1/", api_urls()),
    path("", include("crm.urls")),
    path("", include("crm.urls_intake")),
    path("", include("marketplace.urls")),
    path("", include("workflows.builder.urls")),
    path("", include("workflows.history.urls")),
]
