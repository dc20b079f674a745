"""The seed's workflow built without the mouse (Tab, Shift+Tab, Enter, Escape and typing):
create the workflow, add "Ask OpenAI assistant", pick the assistant, write the prompt,
save, review, turn on. Every control reached by Tab shows where the focus is."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.builder.steps import LABELS, panel
from tests.conftest import PASSWORD, screenshot
from tests.integrations.openai.conftest import (  # noqa: F401  (fixtures)
    connect,
    sim,
    simulator_session,
    workspace_assistant,
)
from workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

L = LABELS["en"]

# The focus ring a keyboard user sees: an outline, or (text fields) a ring as box-shadow.
_FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "";  // past the page's end: the browser's own UI
  const style = getComputedStyle(el);
  if (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) return "";
  if (style.boxShadow && style.boxShadow !== "none") return "";
  return el.outerHTML.slice(0, 120);
}"""


def tab_to(page: Page, target: Locator, *, backwards: bool = False, limit: int = 120) -> None:
    """Press Tab (Shift+Tab) until `target` has the focus; each control passed on the way
    must show a visible focus indicator."""
    key = "Shift+Tab" if backwards else "Tab"
    target.first.wait_for()
    for _ in range(limit):
        page.keyboard.press(key)
        hidden = page.evaluate(_FOCUS_SHOWN)
        assert not hidden, f"no visible focus on {hidden}"
        if target.first.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{limit} presses of {key} never reached {target}")


def test_the_seed_workflow_is_built_and_turned_on_from_the_keyboard(page, sim, acme, builder_user):
    page.set_default_timeout(30_000)  # a shared, loaded machine
    connect(acme)
    workspace_assistant(acme, name="Sales email drafter", model="gpt-4o-mini")

    page.goto("/login/")
    tab_to(page, page.locator("#id_username"))
    page.keyboard.type("builder")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=60_000)

    # Automation > Workflows > Create workflow (its menu), Object, name, Create.
    page.goto("/workflows/")
    opener = page.locator(".create-menu > summary")
    tab_to(page, opener)
    page.keyboard.press("Enter")
    expect(opener).to_have_attribute("aria-expanded", "true")
    tab_to(page, page.get_by_label(L["object"], exact=True))
    page.keyboard.type("Contact")
    tab_to(page, page.get_by_label(L["name"]))
    page.keyboard.type("Draft sales emails")
    tab_to(page, page.get_by_role("button", name=L["create_button"], exact=True))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    workflow = Workflow.objects.get(name="Draft sales emails")
    assert workflow.object_type == "contact"

    # "+" → OpenAI integration → Ask OpenAI assistant.
    tab_to(page, page.locator(".add-step"))
    page.keyboard.press("Enter")
    section = panel(page).locator(
        "details.action-section", has=page.locator("summary", has_text=L["openai_section"])
    )
    if section.get_attribute("open") is None:
        tab_to(page, section.locator("summary"))
        page.keyboard.press("Enter")
    tab_to(page, section.get_by_role("button", name=L["ask_openai"]))
    page.keyboard.press("Enter")
    expect(panel(page).locator("#panel-title")).to_have_text(L["ask_openai"])
    expect(panel(page).locator("#panel-title")).to_be_focused()

    # Configure: the assistant, the prompt; Save.
    assistant = panel(page).get_by_label(L["assistant_selection"])
    tab_to(page, assistant)
    page.keyboard.type("Sales")
    expect(assistant.locator("option:checked")).to_contain_text("Sales email drafter")
    tab_to(page, panel(page).get_by_role("textbox", name=L["prompt"], exact=True))
    page.keyboard.type("Draft a short prospecting email.")
    screenshot(page, "keyboard-seed-ask")
    tab_to(page, panel(page).get_by_role("button", name=L["save"], exact=True))
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_have_class(re.compile("is-empty"))
    expect(page.locator(".card-action .card-flag")).to_have_count(0)
    workflow.refresh_from_db()
    config = workflow.graph["steps"]["1"]["config"]
    assert config["prompt"].strip() == "Draft a short prospecting email."

    # Review and turn on.
    tab_to(page, page.get_by_role("link", name=L["review"]))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/review/$"))
    tab_to(page, page.get_by_role("button", name=L["turn_on"], exact=True))
    page.keyboard.press("Enter")
    expect(page.locator("#bulk-progress .status-ok")).to_be_visible()
    workflow.refresh_from_db()
    assert workflow.is_enabled
