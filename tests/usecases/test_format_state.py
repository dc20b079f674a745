"""Format record data (seed §1.7), end to end in Chromium from a fresh database.

A super admin connects OpenAI through the Marketplace (the simulator's key), creates the
"State formatter" workspace assistant, creates "Format state codes" from its template,
checks the assistant step and turns it on, then imports contacts with messy states by
CSV (docs/demo/contacts-messy-states.csv, the demo file). A real Celery worker imports
them and runs the workflow against the OpenAI simulator: "california" is now "CA" on the
contact's page, "Atlantis" is left alone and a task asks the rep to check it, and the
run's history shows it succeeded.

The same scenario runs with the simulator failing 20 % of the requests with a 429 and
5 % with a 500: same end state, retries in the history, one write and one task each.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.models import Record, Task, TimelineEvent
from marketplace.integrations.openai.demo import STATE_FORMATTER_INSTRUCTIONS
from openai_simulator.config import DEMO_KEY
from tests.accessibility import audited_context, close_checked
from tests.builder.test_build_in_browser import FAST
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (a fixture)
from tests.conftest import BASE_DIR, log_in, screenshot
from tests.crm.test_import_browser import import_csv
from tests.integrations.openai.conftest import sim, simulator_session  # noqa: F401  (fixtures)
from tests.marketplace.test_marketplace_browser import switch_to_french
from tests.usecases.steps import (
    complete_step,
    connect_openai,
    create_from_template,
    create_workspace_assistant,
    open_run,
    step_attempts,
    turn_on,
)
from workflows.models import ActionExecution, Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = BASE_DIR / "docs" / "demo" / "contacts-messy-states.csv"
# What the CSV's states become; Hana's "Atlantis" is not a state and Ivy has none.
EXPECTED = {
    "Ann": "CA",
    "Bo": "NY",
    "Carla": "TX",
    "Dev": "WA",
    "Eva": "CA",
    "Finn": "PA",
    "Gus": "CO",
    "Hana": "Atlantis",
}
FAULTS = [
    # The first call is refused for sure, so a retry always shows; then 20 % / 5 %.
    {"path_prefix": "/v1/responses", "error_429": 1.0, "times": 1, "retry_after_ms": 300},
    {"path_prefix": "/v1/responses", "error_429": 0.2, "error_500": 0.05, "retry_after_ms": 300},
]


def crm_menu(page, item: str) -> None:
    nav = page.get_by_role("navigation", name="Main")
    nav.locator("summary", has_text="CRM").click()
    nav.get_by_role("link", name=item, exact=True).click()


@pytest.mark.parametrize("faults", [False, True], ids=["no-faults", "with-429s-and-500s"])
def test_imported_states_become_two_letter_codes(
    page, live_server, sim, acme, admin_user, rep_user, celery_worker, faults
):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.set_default_timeout(30_000)  # a shared, loaded machine
    env = {**FAST, "OPENAI_BASE_URL": sim.base_url}
    if faults:
        sim.configure(faults=FAULTS)
        env |= {"WORKFLOWS_BACKOFF_SECONDS": "0.3", "WORKFLOWS_MAX_ATTEMPTS": "12"}
    celery_worker(beat=True, env=env)
    shot = "faults-format" if faults else "guide-format"  # the guide shows the clean run

    log_in(page, "admin")
    connect_openai(page, DEMO_KEY)
    create_workspace_assistant(page, "State formatter", STATE_FORMATTER_INSTRUCTIONS)
    screenshot(page, f"{shot}-1-assistant")
    workflow_id = create_from_template(page, "Format state codes")
    expect(page.locator(".branch-label")).to_have_text(["Valid state code", "None met"])
    screenshot(page, f"{shot}-2-template")
    # The template chose the State formatter; the builder checks and saves the step.
    complete_step(page, 1)
    turn_on(page)
    screenshot(page, f"{shot}-3-on")

    import_csv(page, CSV, shot=f"{shot}-4-import-mapping")
    # The worker imports; the progress card refreshes itself until all rows are in.
    expect(page.locator("#import-progress")).to_contain_text("9 of 9 rows", timeout=120_000)
    expect(page.locator("#import-progress").locator("dd").first).to_have_text("9")
    screenshot(page, f"{shot}-5-imported")

    def settled() -> bool:
        enrollments = Enrollment.objects.filter(workflow_id=workflow_id)
        return enrollments.count() == 8 and not enrollments.filter(status="active").exists()

    wait_for(settled, timeout=240, message="every imported contact's run to finish")
    states = {
        r.properties["first_name"]: r.properties.get("state")
        for r in Record.objects.filter(account=acme, object_type="contact")
    }
    assert states == {**EXPECTED, "Ivy": None}
    task = Task.objects.get()  # one, whatever was retried
    assert task.title == "Check the state of Hana Kim" and task.assignee == rep_user
    assert Enrollment.objects.filter(workflow_id=workflow_id, status="completed").count() == 8
    # One write per contact, whatever was retried: one change on each timeline.
    assert (
        ActionExecution.objects.filter(
            workflow_id=workflow_id, step_id=3, status="succeeded"
        ).count()
        == 7
    )
    # (Dev's "WA" was a code already: written back unchanged, so no change to show.)
    assert TimelineEvent.objects.filter(kind="property_changed", source="workflow").count() == 6

    # CRM > Contacts → Ann Lee: State/Region is now "CA"; Hana's "Atlantis" is unchanged.
    crm_menu(page, "Contacts")
    page.get_by_role("link", name="Ann Lee").click()
    expect(page.locator("#property-state")).to_contain_text("CA")
    screenshot(page, f"{shot}-6-record")
    crm_menu(page, "Contacts")
    page.get_by_role("link", name="Hana Kim").click()
    expect(page.locator("#property-state")).to_contain_text("Atlantis")
    # The rep, Hana's owner, logs in: CRM > Tasks asks them to check it.
    rep = audited_context(
        page.context.browser, base_url=live_server.url, viewport={"width": 1440, "height": 900}
    )
    try:
        rep_page = rep.new_page()
        rep_page.set_default_timeout(30_000)
        log_in(rep_page, "rep")
        crm_menu(rep_page, "Tasks")
        expect(rep_page.get_by_text("Check the state of Hana Kim")).to_have_count(1)
        screenshot(rep_page, f"{shot}-7-task")
    finally:
        close_checked(rep)

    # The workflow's History → Ann's run → completed, the state written.
    open_run(page, workflow_id, "Ann Lee")
    expect(page.locator("#run")).to_contain_text("CA")
    screenshot(page, f"{shot}-8-run")
    if faults:
        assert any(r["status"] in (429, 500) for r in sim.requests(path_prefix="/v1/responses"))
        retried = ActionExecution.objects.filter(workflow_id=workflow_id, step_id=1, attempt__gt=1)
        assert retried.exists()
        record = retried.select_related("enrollment__record").first().enrollment.record
        open_run(page, workflow_id, str(record))
        assert step_attempts(page, "Ask OpenAI assistant") > 1
        screenshot(page, "guide-format-9-run-retried")
    else:
        french_screenshots(page, acme, workflow_id)


def french_screenshots(page, acme, workflow_id: int) -> None:
    """The user guide's French screenshots: the same pages, the site in French."""
    switch_to_french(page)
    page.goto(f"/workflows/{workflow_id}/")
    expect(page.locator(".branch-label")).to_have_text(["Valid state code", "Aucune remplie"])
    screenshot(page, "guide-format-fr-2-template")
    ann = Record.objects.get(account=acme, object_type="contact", properties__first_name="Ann")
    page.goto(f"/objects/contacts/{ann.pk}/")
    expect(page.locator("#property-state")).to_contain_text("CA")
    screenshot(page, "guide-format-fr-6-record")
    page.goto("/tasks/?view=all")
    expect(page.get_by_text("Check the state of Hana Kim")).to_have_count(1)
    screenshot(page, "guide-format-fr-7-task")
    run = Enrollment.objects.get(workflow_id=workflow_id, record=ann)
    page.goto(f"/workflows/{workflow_id}/history/runs/{run.pk}/")
    page.locator('[data-run-status="completed"]').wait_for()
    expect(page.locator("#run")).to_contain_text("CA")
    screenshot(page, "guide-format-fr-8-run")
