from django.urls import include, path

from marketplace import views
from marketplace.integrations.openai import views as openai_views

app_name = "marketplace"

CONNECTED_APPS = "settings/integrations/connected-apps/"

urlpatterns = [
    path("marketplace/", views.catalog, name="catalog"),
    # The OpenAI connect dialog; `?next=<path>` returns there once connected
    # (the workflow builder's entry point).
    path("marketplace/openai/connect/", openai_views.connect, name="openai_connect"),
    path("marketplace/<slug:slug>/", views.app_listing, name="listing"),
    path(CONNECTED_APPS, views.connected_apps, name="connected_apps"),
    path(f"{CONNECTED_APPS}openai/reconnect/", openai_views.reconnect, name="openai_reconnect"),
    path(f"{CONNECTED_APPS}openai/models/", openai_views.model_access, name="openai_models"),
    path(f"{CONNECTED_APPS}openai/", include("marketplace.integrations.openai.urls_assistants")),
    path(f"{CONNECTED_APPS}<slug:slug>/", views.app_detail, name="app_detail"),
    path(f"{CONNECTED_APPS}<slug:slug>/log/", views.app_log, name="app_log"),
    path(f"{CONNECTED_APPS}<slug:slug>/uninstall/", views.app_uninstall, name="app_uninstall"),
]
