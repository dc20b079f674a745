"""The Webhooks app's URLs, included by marketplace/urls.py (names in the `marketplace`
namespace): the install and roll dialogs (`?next=<path>` returns there, the workflow
builder's entry point), the Signatures tab, the trigger panel's buttons, and the public
URL other systems post to."""

from django.urls import path

from marketplace.integrations.webhooks import views
from marketplace.registry import CONNECTED_APPS

APP = f"{CONNECTED_APPS}webhooks/"

urlpatterns = [
    path("marketplace/webhooks/connect/", views.connect, name="webhooks_connect"),
    path(f"{APP}reconnect/", views.roll, name="webhooks_roll"),
    path(f"{APP}signatures/", views.signatures, name="webhooks_signatures"),
    path(
        "marketplace/webhooks/workflows/<id:pk>/trigger/",
        views.trigger_panel,
        name="webhooks_trigger",
    ),
    # Public: no login, no CSRF token (the view is marked so).
    path("hooks/<str:public_id>/<str:token>/", views.receive, name="webhooks_receive"),
]
