"""Seed steps 3 and 4 in Chromium, clicking the labels a user reads, in English and French."""

from __future__ import annotations

import pytest

from marketplace.models import Connection, ConnectionStatus
from tests.conftest import log_in, screenshot
from tests.marketplace.helpers import REVOKED_KEY, SECOND_KEY, VALID_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS = {
    "en": {
        "marketplace": "Marketplace",
        "catalog": "App Marketplace",
        "search": "Search apps",
        "install": "Install",
        "api_key": "API key",
        "connect": "Connect to OpenAI",
        "connected": "OpenAI is connected.",
        "rejected": "OpenAI rejected this API key",
        "settings": "Settings",
        "connected_apps": "Connected apps",
        "search_connected": "Search connected apps",
        "actions": "Actions",
        "reconnect": "Reconnect app",
        "reconnected": "OpenAI is reconnected with the new key.",
        "uninstall": "Uninstall",
        "reason": "Why are you uninstalling? (optional)",
        "uninstalled": "OpenAI is uninstalled.",
        "disconnected": "Disconnected",
    },
    "fr": {
        "marketplace": "Marketplace",
        "catalog": "Marketplace d’applications",
        "search": "Rechercher des applications",
        "install": "Installer",
        "api_key": "Clé d’API",
        "connect": "Connecter pour OpenAI",
        "connected": "OpenAI est connecté.",
        "rejected": "OpenAI a refusé cette clé d’API",
        "settings": "Paramètres",
        "connected_apps": "Applications connectées",
        "search_connected": "Rechercher des applications connectées",
        "actions": "Actions",
        "reconnect": "Reconnecter l’application",
        "reconnected": "OpenAI est reconnecté avec la nouvelle clé.",
        "uninstall": "Désinstaller",
        "reason": "Pourquoi désinstallez-vous ? (facultatif)",
        "uninstalled": "OpenAI est désinstallé.",
        "disconnected": "Déconnectée",
    },
}


def switch_to_french(page) -> None:
    page.locator("summary.user-menu").click()
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("link", name="Paramètres").wait_for()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_admin_installs_reconnects_and_uninstalls_openai(page, sim, admin_user, acme, language):
    t = LABELS[language]
    shot = f"marketplace-{language}"
    log_in(page, "admin")
    if language == "fr":
        switch_to_french(page)

    # Step 3: Marketplace icon → App Marketplace → search "OpenAI" → listing → Install.
    page.get_by_role("link", name=t["marketplace"], exact=True).click()
    page.get_by_role("heading", name=t["catalog"]).wait_for()
    page.get_by_role("searchbox", name=t["search"]).fill("OpenAI")
    page.wait_for_url("**/marketplace/?q=OpenAI*")
    screenshot(page, f"{shot}-1-catalog")
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.get_by_role("heading", name="OpenAI", exact=True).wait_for()
    screenshot(page, f"{shot}-2-listing")
    page.get_by_role("link", name=t["install"], exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(t["api_key"]).fill(REVOKED_KEY)
    dialog.get_by_role("button", name=t["connect"]).click()
    page.get_by_role("dialog").get_by_text(t["rejected"]).wait_for()
    screenshot(page, f"{shot}-3-dialog-refused")
    page.get_by_role("dialog").get_by_label(t["api_key"]).fill(VALID_KEY)
    page.get_by_role("dialog").get_by_role("button", name=t["connect"]).click()
    page.get_by_text(t["connected"]).wait_for()
    screenshot(page, f"{shot}-4-connected")
    assert Connection.objects.get(account=acme).secret() == VALID_KEY

    # Step 4: gear → Integrations > Connected apps → OpenAI → Actions → Reconnect app.
    page.get_by_role("link", name=t["settings"], exact=True).click()
    page.get_by_role("link", name=t["connected_apps"], exact=True).click()
    page.get_by_role("searchbox", name=t["search_connected"]).fill("OpenAI")
    page.wait_for_url("**/connected-apps/?q=OpenAI*")
    screenshot(page, f"{shot}-5-connected-apps")
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.get_by_text(t["actions"], exact=True).click()
    screenshot(page, f"{shot}-6-actions-menu")
    page.get_by_role("menuitem", name=t["reconnect"]).click()
    page.get_by_role("dialog").get_by_label(t["api_key"]).fill(SECOND_KEY)
    page.get_by_role("dialog").get_by_role("button", name=t["connect"]).click()
    page.get_by_text(t["reconnected"]).wait_for()
    assert page.get_by_text("sk-…abcd").count() == 1
    screenshot(page, f"{shot}-7-reconnected")

    # … → Actions → Uninstall, with a confirmation that asks for a reason.
    page.get_by_text(t["actions"], exact=True).click()
    page.get_by_role("menuitem", name=t["uninstall"]).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(t["reason"]).fill("Testing the uninstall")
    screenshot(page, f"{shot}-8-uninstall-dialog")
    dialog.get_by_role("button", name=t["uninstall"], exact=True).click()
    page.get_by_text(t["uninstalled"]).wait_for()
    screenshot(page, f"{shot}-9-uninstalled")
    connection = Connection.objects.get(account=acme)
    assert connection.status == ConnectionStatus.DISCONNECTED
    assert connection.encrypted_secret == ""


def test_an_admin_fixes_a_key_rejected_at_run_time_from_the_banner(page, sim, admin_user, acme):
    from marketplace.integrations.openai.services import connection_install
    from marketplace.services import connection_mark_needs_attention

    connection = connection_install(account=acme, user=admin_user, api_key=VALID_KEY).connection
    connection_mark_needs_attention(
        connection=connection, reason="OpenAI answered 401 invalid_api_key to a workflow run"
    )
    log_in(page, "admin")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Connected apps", exact=True).click()
    page.get_by_role("cell", name="Needs attention").wait_for()
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.get_by_text("This app needs attention").wait_for()
    screenshot(page, "marketplace-en-needs-attention")

    page.get_by_role("alert").get_by_role("link", name="Reconnect app").click()
    page.get_by_role("dialog").get_by_label("API key").fill(SECOND_KEY)
    page.get_by_role("dialog").get_by_role("button", name="Connect to OpenAI").click()
    page.get_by_text("OpenAI is reconnected with the new key.").wait_for()
    assert page.get_by_text("This app needs attention").count() == 0

    page.get_by_role("link", name="App log", exact=True).click()
    page.get_by_label("Event").select_option("key_rejected")
    page.wait_for_url("**/log/?event=key_rejected")
    page.get_by_text("OpenAI answered 401 invalid_api_key to a workflow run").wait_for()
    assert page.get_by_role("cell", name="Reconnected").count() == 0
    screenshot(page, "marketplace-en-app-log")

    page.get_by_role("link", name="Model access", exact=True).click()
    page.get_by_label("gpt-4o-mini").uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Model access is saved.").wait_for()
    screenshot(page, "marketplace-en-model-access")
    connection.refresh_from_db()
    assert "gpt-4o-mini" not in connection.allowed_models
