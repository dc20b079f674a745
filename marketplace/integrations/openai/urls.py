"""The OpenAI app's URLs, included by marketplace/urls.py (names in the `marketplace`
namespace): the connect dialog (`?next=<path>` returns there once connected, the
workflow builder's entry point), and its pages under Connected apps."""

from django.urls import path

from marketplace.integrations.openai.views import assistants as views_assistants
from marketplace.integrations.openai.views import connect as views
from marketplace.integrations.openai.views import usage as views_usage
from marketplace.registry import CONNECTED_APPS

APP = f"{CONNECTED_APPS}openai/"

urlpatterns = [
    path("marketplace/openai/connect/", views.connect, name="openai_connect"),
    path(f"{APP}reconnect/", views.reconnect, name="openai_reconnect"),
    path(f"{APP}models/", views.model_access, name="openai_models"),
    path(f"{APP}assistants/", views_assistants.assistants, name="openai_assistants"),
    path(f"{APP}assistants/new/", views_assistants.assistant_edit, name="openai_assistant_new"),
    path(
        f"{APP}assistants/<int:pk>/",
        views_assistants.assistant_edit,
        name="openai_assistant_edit",
    ),
    path(f"{APP}usage/", views_usage.usage_page, name="openai_usage"),
    # The builder's Test button: POST record + config → htmx partial.
    path(f"{APP}test/", views_assistants.action_test, name="openai_action_test"),
    path(
        f"{APP}test/records/",
        views_assistants.action_test_records,
        name="openai_action_test_records",
    ),
]
