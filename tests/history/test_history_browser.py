"""In a real browser: open a workflow's history, read why a run failed, fix the cause,
replay from the failed step and watch the run detail refresh itself to success.

The failing run comes from tests/history/scenarios.py; the issue's quota-error story
(assistant action, then reconnect with a valid key) is the same test with a scenario
whose `fix()` reconnects OpenAI.
"""

import pytest

from crm.models import Task
from tests.conftest import log_in, screenshot
from tests.history.scenarios import owner_handover
from tests.workflows.conftest import drain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_builder_reads_a_failure_replays_it_and_sees_success(page, acme, builder_user):
    scenario = owner_handover(acme)
    drain()
    log_in(page, "builder")
    page.goto(f"/workflows/{scenario.workflow.pk}/history/")
    page.get_by_label("Event").select_option("failed")  # htmx swaps the results in
    page.wait_for_url(lambda url: "event=failed" in url)
    row = page.locator("#history-results tbody tr")
    assert row.count() == 1
    assert scenario.error_text in row.inner_text()
    screenshot(page, "history-action-logs-failed")

    row.get_by_role("link", name="Failed").click()
    page.get_by_role("heading", name="Run of Dana Doe").wait_for()
    assert scenario.error_text in page.locator("#run [role=alert]").inner_text()

    scenario.fix()
    page.get_by_role("link", name="Replay from the failed step").click()
    page.get_by_text("1 failed step will run again").wait_for()
    assert page.locator("[data-estimated-cost]").inner_text() in {"$0", "$0.000000", "unknown"}
    page.get_by_role("button", name="Replay 1 step").click()
    page.locator('[data-run-status="active"]').wait_for()  # refreshing itself

    drain()  # what the worker does
    page.locator('[data-run-status="completed"]').wait_for(timeout=20_000)
    assert page.locator("#run [role=alert]").count() == 0
    assert Task.objects.count() == 1
    screenshot(page, "history-run-replayed")
