"""In a real browser: an admin builds a form, an anonymous visitor answers it."""

import pytest

from crm.models import FormSubmission, Record
from tests.accessibility import close_checked, csp_watched_context
from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_builds_a_form_and_an_anonymous_visitor_submits_it(
    page, browser, live_server, admin_user
):
    log_in(page, "admin")
    page.goto("/settings/forms/")
    page.get_by_label("New form name").fill("Talk to sales")
    page.get_by_role("button", name="Create form").click()
    page.get_by_role("heading", name="Talk to sales").wait_for()

    page.get_by_label("Question").select_option(label="First name")
    page.get_by_role("button", name="Add question").click()
    page.get_by_text("Question added.").wait_for()
    page.get_by_label("Question").select_option(
        label="Free text, saved to a new multi-line contact property"
    )
    page.get_by_label("Label", exact=True).fill("What are you looking for?")
    page.get_by_label("Required", exact=True).check()
    page.get_by_role("button", name="Add question").click()
    page.get_by_text("Question added.").wait_for()
    screenshot(page, "intake-form-builder")
    public_url = page.get_by_label("Public URL").input_value()

    # A visitor: a new browser context, never logged in.
    visitor_context = csp_watched_context(browser, locale="en-US")
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(15_000)
    try:
        visitor.goto(public_url)
        visitor.get_by_role("heading", name="Talk to sales").wait_for()
        visitor.get_by_label("Email").fill("bob@")
        visitor.get_by_label("First name").fill("Bob")
        visitor.get_by_role("button", name="Submit").click()
        visitor.get_by_text("is not a valid email address").wait_for()
        visitor.get_by_label("What are you looking for?").fill(
            "A CRM for our 12 sales reps, with workflows."
        )
        screenshot(visitor, "intake-form-public-errors")
        visitor.get_by_label("Email").fill("bob@example.com")
        visitor.get_by_role("button", name="Submit").click()
        visitor.get_by_text("Thanks for submitting the form").wait_for()
        screenshot(visitor, "intake-form-public-thanks")
    finally:
        close_checked(visitor_context)

    contact = Record.objects.get(email="bob@example.com")
    assert contact.properties["what_are_you_looking_for"] == (
        "A CRM for our 12 sales reps, with workflows."
    )
    assert FormSubmission.objects.get().record == contact

    page.goto(page.url.split("?")[0] + "submissions/")
    page.get_by_text("bob@example.com").wait_for()
    screenshot(page, "intake-form-submissions")
