"""Manage: Settings > Integrations > Connected apps > OpenAI > Actions, the app log,
model access and runtime health."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.urls import reverse

from marketplace.encryption import secret_decrypt
from marketplace.models import AppLogEntry, AppLogEvent, Connection, ConnectionStatus
from marketplace.registry import (
    AppUsage,
    usage_provider_register,
    usage_provider_unregister,
    workflows_using_connection,
)
from marketplace.services import connection_mark_needs_attention
from tests.marketplace.helpers import (
    NO_QUOTA_KEY,
    REVOKED_KEY,
    SECOND_KEY,
    TEXT_MODELS,
    VALID_KEY,
    htmx,
)

CONNECT = reverse("marketplace:openai_connect")
RECONNECT = reverse("marketplace:openai_reconnect")
MODELS = reverse("marketplace:openai_models")
CONNECTED_APPS = reverse("marketplace:connected_apps")
APP_PAGE = reverse("marketplace:app_detail", args=["openai"])
APP_LOG = reverse("marketplace:app_log", args=["openai"])
UNINSTALL = reverse("marketplace:app_uninstall", args=["openai"])


@pytest.fixture
def connection(sim, admin_client, acme) -> Connection:
    admin_client.post(CONNECT, {"api_key": VALID_KEY})
    return Connection.objects.get(account=acme, app="openai")


@pytest.fixture
def usage_provider():
    """A workflows app stand-in registered through the real hook."""
    usages: list[AppUsage] = []

    def provider(connection):
        return list(usages)

    usage_provider_register("openai", provider)
    yield usages
    usage_provider_unregister("openai", provider)


def test_reconnect_replaces_the_key_and_logs_it(connection, admin_client, admin_user):
    response = admin_client.post(RECONNECT, {"api_key": SECOND_KEY})

    assert response["Location"] == APP_PAGE
    connection.refresh_from_db()
    assert connection.secret() == SECOND_KEY
    assert connection.secret_mask == "sk-…abcd"
    assert connection.organization == "org-secondorg0000000000000"
    assert [e.event for e in connection.log_entries.all()] == [
        AppLogEvent.RECONNECTED,
        AppLogEvent.INSTALLED,
    ]
    assert connection.log_entries.first().actor == admin_user
    assert "reconnected with the new key" in admin_client.get(APP_PAGE).content.decode()


def test_a_refused_new_key_keeps_the_old_one(connection, admin_client):
    response = admin_client.post(RECONNECT, {"api_key": REVOKED_KEY})

    assert "OpenAI rejected this API key" in response.content.decode()
    connection.refresh_from_db()
    assert connection.secret() == VALID_KEY
    assert connection.log_entries.count() == 1


def test_uninstall_removes_the_key_keeps_the_log_and_records_the_reason(
    connection, admin_client, admin_user
):
    dialog = admin_client.get(UNINSTALL).content.decode()
    assert "No workflow uses this app." in dialog

    response = admin_client.post(UNINSTALL, {"reason": "Moving to another provider"})

    assert response["Location"] == APP_PAGE
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED
    assert connection.encrypted_secret == "" and connection.secret_mask == ""
    with pytest.raises(ValueError):
        connection.secret()
    entry = connection.log_entries.first()
    assert (entry.event, entry.actor, entry.reason) == (
        AppLogEvent.UNINSTALLED,
        admin_user,
        "Moving to another provider",
    )
    page = admin_client.get(APP_PAGE).content.decode()
    assert "Disconnected" in page and "is uninstalled" in page
    assert "Moving to another provider" in admin_client.get(APP_LOG).content.decode()


def test_installing_again_after_uninstall_reuses_the_connection(connection, admin_client):
    admin_client.post(UNINSTALL, {})
    admin_client.post(CONNECT, {"api_key": SECOND_KEY})

    assert Connection.objects.count() == 1
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED
    assert connection.secret() == SECOND_KEY
    assert [e.event for e in connection.log_entries.all()] == [
        AppLogEvent.INSTALLED,
        AppLogEvent.UNINSTALLED,
        AppLogEvent.INSTALLED,
    ]


def test_the_uninstall_dialog_lists_the_workflows_using_the_app(
    connection, admin_client, usage_provider
):
    usage_provider.append(AppUsage(label="Qualify visitors", url="/automation/workflows/1/"))

    dialog = htmx(admin_client).get(UNINSTALL).content.decode()

    assert dialog.lstrip().startswith('<dialog id="uninstall-dialog"')
    assert "1 workflow uses this app:" in dialog
    assert '<a href="/automation/workflows/1/">Qualify visitors</a>' in dialog
    assert htmx(admin_client).post(UNINSTALL, {})["HX-Redirect"] == APP_PAGE


@pytest.mark.parametrize("user_client", ["rep_client", "builder_client"])
def test_only_super_admins_manage_connected_apps(connection, request, user_client):
    client = request.getfixturevalue(user_client)

    for url in (CONNECTED_APPS, APP_PAGE, APP_LOG, MODELS, RECONNECT, UNINSTALL):
        assert client.get(url).status_code == 403, url
    assert client.post(UNINSTALL, {}).status_code == 403
    assert client.post(RECONNECT, {"api_key": SECOND_KEY}).status_code == 403
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED
    assert connection.secret() == VALID_KEY


def test_another_accounts_connection_is_not_found(connection, globex_client):
    for url in (APP_PAGE, APP_LOG, MODELS, RECONNECT, UNINSTALL):
        assert globex_client.get(url).status_code == 404, url
    assert globex_client.post(UNINSTALL, {}).status_code == 404
    assert globex_client.post(RECONNECT, {"api_key": SECOND_KEY}).status_code == 404
    assert "OpenAI" not in globex_client.get(CONNECTED_APPS).content.decode().split("<main")[1]
    assert Connection.objects.get().status == ConnectionStatus.CONNECTED


def test_connected_apps_lists_searches_and_filters_by_status(connection, admin_client):
    page = admin_client.get(CONNECTED_APPS).content.decode()
    assert APP_PAGE in page and "Connected" in page

    found = htmx(admin_client).get(CONNECTED_APPS, {"q": "openai"}).content.decode()
    assert found.lstrip().startswith('<section id="connected-apps-results"') and APP_PAGE in found
    assert APP_PAGE not in admin_client.get(CONNECTED_APPS, {"q": "salesforce"}).content.decode()
    assert APP_PAGE in admin_client.get(CONNECTED_APPS, {"status": "connected"}).content.decode()
    assert (
        APP_PAGE
        not in admin_client.get(CONNECTED_APPS, {"status": "needs_attention"}).content.decode()
    )


def test_a_key_rejected_at_run_time_needs_attention_until_reconnected(connection, admin_client):
    assert connection_mark_needs_attention(connection=connection, reason="401 invalid_api_key")
    assert not connection_mark_needs_attention(connection=connection, reason="again")

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_ATTENTION
    assert connection.log_entries.filter(event=AppLogEvent.KEY_REJECTED).count() == 1
    page = admin_client.get(APP_PAGE).content.decode()
    assert "This app needs attention" in page and "401 invalid_api_key" in page
    listed = admin_client.get(CONNECTED_APPS, {"status": "needs_attention"}).content.decode()
    assert "Needs attention" in listed and APP_PAGE in listed

    admin_client.post(RECONNECT, {"api_key": SECOND_KEY})

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED
    assert "This app needs attention" not in admin_client.get(APP_PAGE).content.decode()


def test_the_app_log_filters_by_event(connection, admin_client):
    connection_mark_needs_attention(connection=connection, reason="401 from a workflow run")
    admin_client.post(RECONNECT, {"api_key": SECOND_KEY})

    everything = admin_client.get(APP_LOG).content.decode()
    only_rejections = htmx(admin_client).get(APP_LOG, {"event": "key_rejected"}).content.decode()

    for label in ("Installed", "Reconnected", "Key rejected at run time", "crmflow (automatic)"):
        assert label in everything
    assert only_rejections.lstrip().startswith('<section id="app-log-results"')
    assert "401 from a workflow run" in only_rejections
    assert "Reconnected</span>" not in only_rejections


def test_model_access_offers_every_text_generation_model_by_default(connection, admin_client):
    from marketplace.integrations.openai.services import models_for_builders

    page = admin_client.get(MODELS).content.decode()

    assert models_for_builders(connection) == sorted(TEXT_MODELS)
    for model in TEXT_MODELS:
        assert f'value="{model}"' in page
    assert 'value="text-embedding-3-small"' not in page and "whisper-1" in page


def test_admins_restrict_models_and_get_all_back(connection, admin_client, admin_user):
    from marketplace.integrations.openai.services import models_for_builders

    admin_client.post(MODELS, {"save": "1", "models": ["gpt-4o", "gpt-4o-mini"]})
    connection.refresh_from_db()
    assert models_for_builders(connection) == ["gpt-4o", "gpt-4o-mini"]
    assert connection.log_entries.first().event == AppLogEvent.MODELS_CHANGED

    admin_client.post(MODELS, {"save": "1", "models": TEXT_MODELS})
    connection.refresh_from_db()
    assert connection.allowed_models is None


def test_removing_a_model_a_workflow_uses_shows_that_workflow_first(
    connection, admin_client, usage_provider
):
    from marketplace.integrations.openai.services import models_for_builders

    usage_provider.append(AppUsage(label="Draft sales emails", models=frozenset({"gpt-4o"})))
    keep = [m for m in TEXT_MODELS if m != "gpt-4o"]

    page = admin_client.post(MODELS, {"save": "1", "models": keep}).content.decode()

    assert "Workflows use the models you are removing" in page and "Draft sales emails" in page
    connection.refresh_from_db()
    assert "gpt-4o" in models_for_builders(connection)

    admin_client.post(MODELS, {"save": "1", "confirm": "1", "models": keep})
    connection.refresh_from_db()
    assert "gpt-4o" not in models_for_builders(connection)


def test_refreshing_models_lists_them_again_from_openai(connection, admin_client, sim):
    Connection.objects.filter(pk=connection.pk).update(available_models=["gpt-4o"])
    sim.clear_requests()

    admin_client.post(MODELS, {"refresh": "1"})

    connection.refresh_from_db()
    assert "gpt-5" in connection.available_models
    assert [r["path"] for r in sim.requests()] == ["/v1/models"]


def test_the_catalog_searches_and_filters_by_category(db, rep_client):
    catalog = reverse("marketplace:catalog")
    listing = reverse("marketplace:listing", args=["openai"])

    assert listing in rep_client.get(catalog).content.decode()
    found = htmx(rep_client).get(catalog, {"q": "OpenAI"}).content.decode()
    assert found.lstrip().startswith('<section id="catalog-results"') and listing in found
    assert listing in rep_client.get(catalog, {"category": "ai"}).content.decode()
    assert listing not in rep_client.get(catalog, {"q": "no such app"}).content.decode()
    assert "No app matches your search" in rep_client.get(catalog, {"q": "zzz"}).content.decode()


def test_the_listing_shows_before_you_begin_and_pricing(db, admin_client):
    page = admin_client.get(reverse("marketplace:listing", args=["openai"])).content.decode()

    assert "Before you begin" in page
    assert "You can connect only one OpenAI account to each crmflow account." in page
    assert "OpenAI bills you directly" in page
    assert f'hx-get="{CONNECT}"' in page


def test_rotation_re_encrypts_every_key_with_the_newest_key(connection, settings, globex):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    old_token = connection.encrypted_secret
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]

    call_command("rotate_app_secrets")

    connection.refresh_from_db()
    assert connection.encrypted_secret != old_token
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert secret_decrypt(connection.encrypted_secret) == VALID_KEY
    assert connection.secret() == VALID_KEY


def test_the_quota_warning_shows_on_the_app_page(sim, admin_client):
    admin_client.post(CONNECT, {"api_key": NO_QUOTA_KEY})

    page = admin_client.get(APP_PAGE).content.decode()

    assert "OpenAI said its quota was exhausted" in page
    assert AppLogEntry.objects.filter(event=AppLogEvent.INSTALLED).count() == 1


def test_super_admins_are_told_in_the_bell_and_by_email_when_a_key_is_rejected(
    connection, admin_user, rep_user, admin_client, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        connection_mark_needs_attention(connection=connection, reason="401 invalid_api_key")
    with django_capture_on_commit_callbacks(execute=True):
        connection_mark_needs_attention(connection=connection, reason="401 again")

    notes = admin_user.notifications.all()
    assert [n.title for n in notes] == ["OpenAI needs attention: reconnect the app"]
    assert notes[0].url == APP_PAGE
    assert not rep_user.notifications.exists()
    assert [m.to for m in mailoutbox] == [[admin_user.email]]


def test_an_apps_usage_providers_speak_only_of_its_own_connections(connection, usage_provider):
    usage_provider.append(AppUsage(label="Qualify leads"))
    assert [u.label for u in workflows_using_connection(connection)] == ["Qualify leads"]
    other_app = Connection(account=connection.account, app="webhooks")
    assert workflows_using_connection(other_app) == []


def test_the_app_page_names_the_stored_secret_as_it_is_called(connection, admin_client):
    """The stored secret by its name, as written ("API key", not "api key")."""
    english = admin_client.get(APP_PAGE).content.decode()
    french = admin_client.get(APP_PAGE, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "API key stored encrypted. crmflow never shows it again" in english
    assert "Clé d’API\u00a0: stockage chiffré." in french
