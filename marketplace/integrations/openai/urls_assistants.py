"""URLs of the "Ask OpenAI assistant" action's pages, included by marketplace/urls.py
under `settings/integrations/connected-apps/openai/` (names in the `marketplace` namespace)."""

from django.urls import path

from marketplace.integrations.openai import views_assistants, views_usage

urlpatterns = [
    path("assistants/", views_assistants.assistants, name="openai_assistants"),
    path("assistants/new/", views_assistants.assistant_edit, name="openai_assistant_new"),
    path("assistants/<int:pk>/", views_assistants.assistant_edit, name="openai_assistant_edit"),
    path("usage/", views_usage.usage_page, name="openai_usage"),
    # The builder's Test button: POST record + config → htmx partial.
    path("test/", views_assistants.action_test, name="openai_action_test"),
    path("test/records/", views_assistants.action_test_records, name="openai_action_test_records"),
]
