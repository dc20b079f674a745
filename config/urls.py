from django.contrib import admin
from django.urls import include, path

from crm.api import api_urls

urlpatterns = [
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api_urls()),
    path("", include("crm.urls")),
    path("", include("crm.urls_intake")),
    path("", include("marketplace.urls")),
    path("", include("workflows.builder.urls")),
    path("", include("workflows.history.urls")),
]
