"""Browser steps for building workflows through the UI, in the user's own words.

Every helper takes the labels a user sees, so one scenario runs in English and French
(see LABELS). A seed scenario reads, e.g.:

    create_workflow(page, L, object_label=L["contact"], name="Draft sales email")
    set_criteria(page, L, property_label=L["state"])             # "is known"
    add_action(page, L["openai_section"], L["ask_openai"])
    panel(page).get_by_label(L["assistant_selection"]).select_option(label="Sales helper")
    type_into(page, "Prompt", "Write to "); insert_data(page, "Prompt", L["contact_properties"],
                                                        None, L["first_name"])
    expand(page, L["advanced"]); panel(page).get_by_label(L["temperature"]).fill("0.3")
    save(page, L)
    add_action(page, L["crm_section"], L["create_task"])
    type_into(page, L["title"], "Email draft: ")
    insert_data(page, L["notes"], L["action_outputs"], "1. " + L["ask_openai"], L["response"])
    page.get_by_label(L["assigned_to"]).select_option(label="Riley Rep"); save(page, L)
    review_and_turn_on(page, L)
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

LABELS = {
    "en": {
        "create": "Create workflow",
        "create_button": "Create",
        "object": "Object",
        "name": "Workflow name",
        "contact": "Contact",
        "contact_properties": "Contact properties",
        "add_condition": "Add a condition",
        "property": "Property",
        "save": "Save",
        "crm_section": "CRM",
        "create_task": "Create task",
        "title": "Title",
        "notes": "Notes",
        "assigned_to": "Assigned to",
        "review": "Review and turn on",
        "turn_on": "Turn on",
        "action_outputs": "Action outputs",
        "openai_section": "OpenAI integration",
        "ask_openai": "Ask OpenAI assistant",
        "response": "Response",
        "assistant_selection": "Assistant selection",
        "in_crmflow": "in crmflow",
        "advanced": "Advanced API parameters",
        "model": "Model selection",
        "temperature": "Temperature",
        "prompt": "Prompt",
        "enrolled": re.compile(r"existing records? enrolled"),
        "match_now": "match",
    },
    "fr": {
        "create": "Créer un workflow",
        "create_button": "Créer",
        "object": "Objet",
        "name": "Nom du workflow",
        "contact": "Contact",
        "contact_properties": "Propriétés Contact",
        "add_condition": "Ajouter une condition",
        "property": "Propriété",
        "save": "Enregistrer",
        "crm_section": "CRM",
        "create_task": "Créer une tâche",
        "title": "Titre",
        "notes": "Notes",
        "assigned_to": "Assignée à",
        "review": "Vérifier et activer",
        "turn_on": "Activer",
        "action_outputs": "Résultats d’action",
        "openai_section": "Intégration OpenAI",
        "ask_openai": "Demander à l’assistant OpenAI",
        "response": "Réponse",
        "assistant_selection": "Sélection de l’assistant",
        "in_crmflow": "dans crmflow",
        "advanced": "Paramètres API avancés",
        "model": "Sélection du modèle",
        "temperature": "Température",
        "prompt": "Invite",
        "enrolled": re.compile(r"inscrits?"),
        "match_now": "correspond",
    },
}


# Property labels come from the CRM's catalogue: whatever it says in that language.
PROPERTY_LABELS = {
    "state": "State/Region",
    "first_name": "First name",
    "company_name": "Company name",
}


def labels(language: str) -> dict:
    from django.utils import translation

    with translation.override(language):
        return {
            **LABELS[language],
            **{key: translation.gettext(text) for key, text in PROPERTY_LABELS.items()},
        }


def log_in_as(page: Page, username: str) -> None:
    """Log in by field ids (the login page's labels are translated)."""
    page.goto("/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    # Password hashing on a loaded machine can take a while: wait for the page, not the click.
    page.locator("form button[type=submit].button-primary").click(no_wait_after=True)
    page.wait_for_url(lambda url: "/login/" not in url, timeout=60_000)


def panel(page: Page):
    return page.locator("#panel")


def create_workflow(page: Page, L: dict, *, object_label: str, name: str) -> None:
    page.goto("/workflows/")
    page.locator(".create-menu > summary").click()
    page.get_by_label(L["object"], exact=True).select_option(label=object_label)
    page.get_by_label(L["name"]).fill(name)
    page.get_by_role("button", name=L["create_button"], exact=True).click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))


def set_criteria(
    page: Page,
    L: dict,
    *,
    property_label: str,
    operator_label: str | None = None,
    value: str | None = None,
) -> None:
    """Open the trigger card, add one condition and save it."""
    page.locator(".card-trigger .card-open").click()
    panel(page).get_by_role("button", name=L["add_condition"]).click()
    # Let the panel swap in the new row before choosing in it: a change made on the row
    # being replaced would be lost with it.
    page.wait_for_load_state("networkidle")
    row = panel(page).locator(".criteria-row").last
    row.get_by_label(L["property"], exact=True).select_option(label=property_label)
    page.wait_for_load_state("networkidle")
    expect(row.locator("select[name$='-operator']")).to_be_visible(timeout=15_000)
    if operator_label:
        row.locator("select[name$='-operator']").select_option(label=operator_label)
    if value is not None:
        row.locator("input[name$='-value']").fill(value)
    expect(panel(page).locator(".live-count")).to_contain_text(L["match_now"])
    save(page, L)


def add_action(page: Page, section: str, label: str, *, slot: str | None = None) -> None:
    """Click a "+" (the last one, or the one at `slot`, e.g. "after:1"), then the action."""
    plus = (
        page.locator(f'.add-step[data-slot="{slot}"]') if slot else page.locator(".add-step").last
    )
    plus.click()
    # Let the picker swap in first: a click on the panel being replaced is lost with it.
    page.wait_for_load_state("networkidle")
    group = panel(page).locator(
        "details.action-section", has=page.locator("summary", has_text=section)
    )
    if group.get_attribute("open") is None:
        group.locator("summary").click()
    group.get_by_role("button", name=label).click()
    page.wait_for_load_state("networkidle")
    expect(panel(page).locator("#panel-title")).to_have_text(label)


def expand(page: Page, label: str) -> None:
    """Open a collapsible group of the panel, e.g. "Advanced API parameters"."""
    details = panel(page).locator("details", has=page.locator("summary", has_text=label)).first
    if details.get_attribute("open") is None:
        details.locator("summary").first.click()


def editor(page: Page, field: str):
    return panel(page).get_by_role("textbox", name=field, exact=True)


def type_into(page: Page, field: str, text: str) -> None:
    """Type at the end of a token field (chips already in it stay)."""
    box = editor(page, field)
    box.click()
    page.keyboard.press("End")
    page.keyboard.type(text)


def insert_data(page: Page, field: str, source: str, group: str | None, item: str) -> None:
    """Insert data → "Show properties or action outputs from" = source → [group] → item."""
    container = panel(page).locator(".field", has=page.locator("label", has_text=field))
    container.locator("[data-insert-data]").first.click()
    picker = page.locator("#picker")
    expect(picker).to_be_visible()
    picker.locator("[data-picker-source]").select_option(label=source)
    scope = picker.locator("[data-source]:visible")
    if group:
        details = scope.locator("details.picker-group", has=page.locator("summary", has_text=group))
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        scope = details
    scope.locator(".picker-item", has_text=item).first.click()
    expect(editor(page, field).locator(".token-chip", has_text=item).first).to_be_visible()


def save(page: Page, L: dict) -> None:
    panel(page).get_by_role("button", name=L["save"], exact=True).click()
    expect(page.locator("#panel")).to_have_class(re.compile("is-empty"))


def review_and_turn_on(page: Page, L: dict) -> None:
    page.get_by_role("link", name=L["review"]).click()
    page.get_by_role("button", name=L["turn_on"], exact=True).click()
    expect(page.locator("#bulk-progress")).to_contain_text(L["enrolled"], timeout=90_000)
