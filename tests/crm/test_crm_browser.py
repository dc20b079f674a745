"""The CRM in a real browser: filter contacts, open one, edit inline, add a note."""

import pytest

from crm.models import Record
from tests.conftest import log_in, screenshot
from tests.crm.factories import contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_filters_contacts_edits_one_inline_and_adds_a_note(page, acme, rep_user):
    jane = contact(
        acme,
        email="jane@northwind.example",
        first_name="Jane",
        last_name="Doe",
        lifecycle_stage="lead",
        job_title="CTO",
        owner=str(rep_user.pk),
    )
    contact(
        acme,
        email="bob@contoso.example",
        first_name="Bob",
        last_name="Stone",
        lifecycle_stage="customer",
        owner=str(rep_user.pk),
    )
    for i in range(8):
        contact(
            acme,
            email=f"p{i}@example.com",
            first_name=f"Person{i}",
            last_name="Lee",
            lifecycle_stage=["subscriber", "lead", "customer"][i % 3],
            phone="+1 555 0100",
        )
    log_in(page, "rep")
    page.goto("/objects/contacts/")
    page.get_by_role("heading", name="Contacts").wait_for()
    screenshot(page, "crm-contacts")

    page.locator("summary", has_text="Add filter").click()
    page.get_by_label("Property", exact=True).select_option("lifecycle_stage")
    page.locator("#filter-operator").wait_for()
    page.get_by_label("Condition").select_option("eq_any")
    page.locator("#filter-value").select_option(["lead"])
    page.get_by_role("button", name="Apply filter").click()
    page.locator(".chip", has_text="Lifecycle stage").wait_for()
    assert page.locator("table.table-records tbody tr").count() == 4
    screenshot(page, "crm-contacts-filtered")

    page.get_by_role("link", name="Jane Doe").click()
    page.get_by_role("heading", name="Jane Doe").wait_for()
    page.locator("#property-job_title a.property-value").click()
    page.locator("#edit-job_title").fill("Chief Technology Officer")
    page.locator("#property-job_title").get_by_role("button", name="Save").click()
    page.locator("#property-job_title", has_text="Chief Technology Officer").wait_for()
    page.locator("#timeline", has_text="Chief Technology Officer").wait_for()

    page.locator("#property-email a.property-value").click()
    page.locator("#edit-email").fill("not an email")
    page.locator("#property-email").get_by_role("button", name="Save").click()
    page.get_by_role("alert").filter(has_text="is not a valid email address").wait_for()
    screenshot(page, "crm-record-inline-error")
    page.locator("#property-email").get_by_role("link", name="Cancel").click()

    page.get_by_label("Add a note").fill("Met at the fair.\nWants a demo: https://example.com/demo")
    page.get_by_role("button", name="Save note").click()
    page.locator(".note-body a[href='https://example.com/demo']").wait_for()
    screenshot(page, "crm-record")

    jane.refresh_from_db()
    assert jane.properties["job_title"] == "Chief Technology Officer"
    assert jane.properties["email"] == "jane@northwind.example"
    assert Record.objects.get(pk=jane.pk).timeline.filter(kind="note").count() == 1


def test_an_admin_creates_a_custom_property_and_sees_the_task_queue(page, acme, admin_user):
    log_in(page, "admin")
    page.goto("/settings/properties/")
    page.get_by_role("link", name="Create property").click()
    page.get_by_label("Label").fill("Customer tier")
    page.get_by_label("Field type").select_option("enumeration")
    page.get_by_label("Options (dropdown select only)").fill("Gold\nSilver\nBronze")
    screenshot(page, "crm-property-form")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("link", name="Customer tier").wait_for()
    screenshot(page, "crm-properties")
    page.goto("/tasks/")
    page.get_by_role("button", name="Create task").first.click()
    page.locator("#task-dialog").get_by_label("Title").fill("Call Jane about the renewal")
    page.locator("#task-dialog").get_by_role("button", name="Create task").click()
    page.get_by_role("cell", name="Call Jane about the renewal", exact=True).wait_for()
    page.get_by_role("button", name="Mark Call Jane about the renewal complete").click()
    page.locator("tr.is-done").wait_for()
    screenshot(page, "crm-tasks")
