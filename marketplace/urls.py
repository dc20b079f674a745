from django.urls import path

from marketplace import views

app_name = "marketplace"

urlpatterns = [
    path("marketplace/", views.catalog, name="catalog"),
    path(
        "settings/integrations/connected-apps/",
        views.connected_apps,
        name="connected_apps",
    ),
]
