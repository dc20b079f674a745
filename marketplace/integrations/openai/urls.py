"""The OpenAI app's URLs, included by marketplace/urls.py (names in the `marketplace`
namespace): the connect dialog (`?next=<path>` returns there once connected, the
workflow builder's entry point), its pages under Connected apps, and the builder's
Test section."""

from django.urls import path

from marketplace.integrations.openai.views import (
    assistants,
    connect,
    evaluations,
    test_panel,
    usage,
    versions,
)
from marketplace.registry import CONNECTED_APPS

APP = f"{CONNECTED_APPS}openai/"

urlpatterns = [
    path("marketplace/openai/connect/", connect.connect, name="openai_connect"),
    path(f"{APP}reconnect/", connect.reconnect, name="openai_reconnect"),
    path(f"{APP}models/", connect.model_access, name="openai_models"),
    path(f"{APP}assistants/", assistants.assistants, name="openai_assistants"),
    path(f"{APP}assistants/new/", assistants.assistant_edit, name="openai_assistant_new"),
    path(f"{APP}assistants/<id:pk>/", assistants.assistant_edit, name="openai_assistant_edit"),
    path(
        f"{APP}assistants/<id:pk>/evaluation-sets/new/",
        evaluations.evaluation_set_new,
        name="openai_evaluation_set_new",
    ),
    path(
        f"{APP}evaluation-sets/<id:pk>/",
        evaluations.evaluation_set,
        name="openai_evaluation_set",
    ),
    path(f"{APP}evaluations/<id:pk>/", evaluations.evaluation, name="openai_evaluation"),
    path(
        "marketplace/openai/workflows/<id:pk>/steps/<id:step_id>/adopt/",
        versions.step_adopt,
        name="openai_step_adopt",
    ),
    path(f"{APP}usage/", usage.usage_page, name="openai_usage"),
    # The builder's Test section: POST record + config → htmx partial.
    path(f"{APP}test/", test_panel.action_test, name="openai_action_test"),
    path(f"{APP}test/records/", test_panel.action_test_records, name="openai_action_test_records"),
]
