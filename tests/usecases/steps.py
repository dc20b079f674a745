"""Browser steps shared by the seed's use-case tests (PRODUCT.md §1.7), in a user's
own clicks, English labels. Builder steps (log_in_as, labels, panel…) live in
tests/builder/steps.py; these add what a use case needs around them:

    log_in_as(page, "admin")
    connect_openai(page, DEMO_KEY)                              # Marketplace → Install
    create_workspace_assistant(page, "Lead qualifier", LEAD_QUALIFIER_INSTRUCTIONS,
                               fields=[("rating", "enumeration", "HOT, WARM, COLD"),
                                       ("reason", "text", "")])
    url = create_form(page, "Contact us", [("First name", "", True),
                                           (FREE_TEXT_NEW_PROPERTY, "What are you looking for?", True)])
    workflow_id = create_from_template(page, "Qualify visitors")
    complete_step(page, 1)                                      # open, check, Save
    turn_on(page)
    submit_public_form(browser, live_server.url, url, {"Email": "ann@example.com", …})
    open_run(page, workflow_id, "ann@example.com")              # History → run detail
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.accessibility import audited_context, close_checked
from tests.builder.steps import panel

LEAD_QUALIFIER_INSTRUCTIONS = (
    "Rate the lead's interest as HOT, WARM or COLD from what the visitor is looking for, "
    "and give the reason in one sentence."
)
SALES_EMAIL_INSTRUCTIONS = (
    "Draft a short prospecting email to the contact, from the sender, about the deal. "
    "Start with a subject line."
)


def connect_openai(page: Page, api_key: str) -> None:
    """Seed step 3: Marketplace → App Marketplace → search "OpenAI" → Install → paste
    the key → Connect to OpenAI."""
    page.get_by_role("link", name="Marketplace", exact=True).click()
    page.get_by_role("heading", name="App Marketplace").wait_for()
    page.get_by_role("searchbox", name="Search apps").fill("OpenAI")
    page.wait_for_url("**/marketplace/?q=OpenAI*")
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.get_by_role("link", name="Install", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("API key").fill(api_key)
    dialog.get_by_role("button", name="Connect to OpenAI").click()
    page.get_by_text("OpenAI is connected.").wait_for(timeout=30_000)


def create_workspace_assistant(
    page: Page,
    name: str,
    instructions: str,
    *,
    model: str = "gpt-4o-mini",
    fields: list[tuple[str, str, str]] = (),
) -> None:
    """Settings → Connected apps → OpenAI → Assistants → New assistant. `fields` are
    structured output fields (name, type value, comma-separated options)."""
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Connected apps", exact=True).click()
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.locator(".mkt-tabs").get_by_role("link", name="Assistants", exact=True).click()
    page.get_by_role("link", name="New assistant").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Instructions").fill(instructions)
    page.get_by_label("Model", exact=True).select_option(model)
    if fields:
        page.get_by_label("Output format").select_option("structured")
    for i, (field_name, field_type, options) in enumerate(fields, start=1):
        page.get_by_label(f"Field name {i}", exact=True).fill(field_name)
        page.get_by_label(f"Type {i}", exact=True).select_option(field_type)
        page.get_by_label(f"Options {i}", exact=True).fill(options)
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("link", name=name, exact=True).wait_for()


def create_from_template(page: Page, template_name: str) -> int:
    """Automation > Workflows → Create workflow → From a template → `template_name`;
    returns the new workflow's id (from the builder's URL)."""
    page.goto("/workflows/")
    page.locator(".create-menu > summary").click()
    page.get_by_role("button", name=template_name).click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    return int(re.search(r"/workflows/(\d+)/$", page.url)[1])


def open_step(page: Page, step_id: int) -> None:
    title = panel(page).locator("#panel-title")
    for _ in range(3):  # a click before htmx has wired the card does nothing: click again
        page.locator(f'[data-step="{step_id}"] .card-open').click()
        try:
            expect(title).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            continue
    expect(title).to_be_visible()


def complete_step(page: Page, step_id: int, *, assistant: str | None = None) -> None:
    """Open a step the template left to check, pick the assistant if asked, Save."""
    open_step(page, step_id)
    if assistant is not None:
        panel(page).get_by_label("Assistant selection").select_option(label=assistant)
    panel(page).get_by_role("button", name="Save", exact=True).click()
    expect(panel(page)).to_have_class(re.compile("is-empty"))
    expect(page.locator(f'[data-step="{step_id}"] .card-flag')).to_have_count(0)


def turn_on(page: Page) -> None:
    """Review and turn on → Turn on (enrolling nobody who matches already: the default
    "enroll the records that meet the criteria now" is kept)."""
    page.get_by_role("link", name="Review and turn on").click()
    expect(page.get_by_text("Every action is complete.")).to_be_visible()
    page.get_by_role("button", name="Turn on", exact=True).click()
    expect(page.locator("#bulk-progress")).to_contain_text("On", timeout=90_000)


def submit_public_form(browser: Browser, base_url: str, url: str, answers: dict[str, str]) -> None:
    """An anonymous visitor, in a browser context of their own, fills the public form
    (answers by question label) and sends it."""
    context = audited_context(browser, base_url=base_url, locale="en-US")
    try:
        visitor = context.new_page()
        visitor.set_default_timeout(30_000)
        visitor.goto(url)
        for label, value in answers.items():
            # A required question's label ends with "*".
            visitor.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$")).fill(value)
        visitor.locator("button.public-form-submit").click()
        visitor.get_by_text("Thanks for submitting the form").wait_for()
    finally:
        close_checked(context)


def open_history(page: Page, workflow_id: int) -> None:
    """The workflow → History → Enrollment history."""
    page.goto(f"/workflows/{workflow_id}/")
    page.get_by_role("link", name="History").click()
    page.get_by_role("link", name="Enrollment history").click()


def open_run(page: Page, workflow_id: int, record: str, *, status: str = "completed") -> None:
    """History → Enrollment history → the record's run → its detail, once it shows
    `status` (the page refreshes itself while the run is in flight)."""
    open_history(page, workflow_id)
    row = page.locator("tbody tr", has_text=record).first
    row.get_by_role("link").first.click()
    page.get_by_role("heading", name=re.compile("^Run of ")).wait_for()
    page.locator(f'[data-run-status="{status}"]').wait_for(timeout=60_000)


def step_attempts(page: Page, step_label: str) -> int:
    """The "Attempts" figure of a step on the open run detail."""
    section = page.locator("section.history-step", has=page.locator("h2", has_text=step_label))
    facts = section.first.locator("dl.history-step-facts")
    text = facts.locator("dt:text-is('Attempts') + dd").inner_text()
    return int(re.match(r"\s*(\d+)", text)[1])


def open_notifications(page: Page) -> None:
    """The bell, top right."""
    page.locator("#notifications-bell").click()
    page.wait_for_url("**/notifications/**")


def crm_menu(page: Page, item: str) -> None:
    """Main menu CRM → `item` (Contacts, Companies, Deals, Tickets, Tasks)."""
    menu = page.locator("nav.topbar-menus details", has=page.locator("summary", has_text="CRM"))
    menu.locator("summary").click()
    menu.get_by_role("link", name=item, exact=True).click()


FREE_TEXT_NEW_PROPERTY = "Free text, saved to a new multi-line contact property"


def create_form(page: Page, name: str, questions: list[tuple[str, str, bool]]) -> str:
    """Settings → Forms → New form → add questions (the option in "Question", a label
    for a new one or "", required) → returns the public URL."""
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Forms", exact=True).click()
    page.get_by_label("New form name").fill(name)
    page.get_by_role("button", name="Create form").click()
    page.get_by_role("heading", name=name).wait_for()
    for option, label, required in questions:
        page.get_by_label("Question").select_option(label=option)
        if label:
            page.get_by_label("Label", exact=True).fill(label)
        if required:
            page.get_by_label("Required", exact=True).check()
        page.get_by_role("button", name="Add question").click()
        page.get_by_text("Question added.").wait_for()
    return page.get_by_label("Public URL").input_value()
