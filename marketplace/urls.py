"""The marketplace's pages, then each registered app's own URL patterns (its dialogs
and pages, declared by `AppListing.urls` or `urls_register`), all in the `marketplace`
namespace."""

from django.urls import include, path

from marketplace import views
from marketplace.registry import CONNECTED_APPS, url_modules

app_name = "marketplace"

urlpatterns = [
    *[path("", include(module)) for module in url_modules()],
    path("marketplace/", views.catalog, name="catalog"),
    path("marketplace/<slug:slug>/", views.app_listing, name="listing"),
    path(CONNECTED_APPS, views.connected_apps, name="connected_apps"),
    path(f"{CONNECTED_APPS}<slug:slug>/", views.app_detail, name="app_detail"),
    path(f"{CONNECTED_APPS}<slug:slug>/log/", views.app_log, name="app_log"),
    path(f"{CONNECTED_APPS}<slug:slug>/uninstall/", views.app_uninstall, name="app_uninstall"),
]
