"""In a real browser: open a workflow's history, read why a run failed, fix the cause,
replay from the failed step and watch the run detail refresh itself to success.

Two failures from tests/history/scenarios.py: a deactivated owner (built-in actions, the
ledger run in this process), and the issue's story — an "Ask OpenAI assistant" step
that failed because the account's OpenAI key is out of quota (the simulator answers 429
insufficient_quota), fixed by reconnecting the app with a valid key through the
Marketplace pages, on a real Celery worker.
"""

from decimal import Decimal

import pytest

from crm.models import Task
from marketplace.integrations.openai.models import AssistantUsage
from openai_simulator.config import DEMO_KEY
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.conftest import log_in, screenshot
from tests.history.scenarios import openai_assistant_workflow, openai_out_of_quota, owner_handover
from tests.integrations.openai.test_on_celery_workers import worker_env
from tests.workflows.conftest import contact, drain
from workflows.models import Enrollment

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


def problems_of(page) -> list[str]:
    """What the page raised: script errors and server errors, collected as they come."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "response",
        lambda response: (
            response.status >= 500 and problems.append(f"{response.status} {response.url}")
        ),
    )
    return problems


def test_an_admin_reads_a_quota_error_reconnects_openai_replays_and_sees_success(
    sim, page, acme, admin_user, celery_worker
):  # `sim` first: it switches the password hasher, before the admin is made
    workflow = openai_assistant_workflow(acme)
    celery_worker(beat=True, env=worker_env(sim))
    # Bob's run succeeds first (it gives the replay its cost estimate) …
    bob = contact(acme, first_name="Bob", last_name="Doe", state="texas")
    wait_for(
        lambda: Enrollment.objects.filter(record=bob, status="completed").exists(),
        timeout=60,
        message="Bob's run to complete on the worker",
    )
    bob_usage = AssistantUsage.objects.get(execution__enrollment__record=bob)
    # … then the account's key runs out of quota, and Ann's run fails.
    scenario = openai_out_of_quota(acme, workflow=workflow)
    wait_for(
        lambda: Enrollment.objects.filter(record=scenario.record, status="failed").exists(),
        timeout=60,
        message="Ann's run to fail on the worker",
    )
    problems = problems_of(page)

    log_in(page, "admin")
    page.goto(f"/workflows/{workflow.pk}/history/")
    page.get_by_label("Event").select_option("failed")
    page.wait_for_url(lambda url: "event=failed" in url)
    row = page.locator("#history-results tbody tr")
    assert row.count() == 1
    assert "Ann Doe" in row.inner_text() and scenario.error_text in row.inner_text()
    screenshot(page, "history-quota-action-logs")
    row.get_by_role("link", name="Failed").click()
    page.get_by_role("heading", name="Run of Ann Doe").wait_for()
    alert = page.locator("#run [role=alert]").inner_text()
    assert "Your OpenAI account is out of quota. Add credit" in alert
    step = page.locator("#step-1")
    assert step.locator(".history-kv").first.get_by_text("ohio", exact=True).count() == 1
    assert step.locator('[data-attempt-kind="failed"]').count() == 1
    screenshot(page, "history-quota-run-failed")

    # Reconnect the OpenAI app with a valid key, from its Marketplace page.
    page.get_by_role("link", name="Marketplace", exact=True).click()
    page.get_by_role("searchbox", name="Search apps").fill("OpenAI")
    page.wait_for_url("**/marketplace/?q=OpenAI*")
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.get_by_role("link", name="Manage", exact=True).click()
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("menuitem", name="Reconnect app").click()
    page.get_by_role("dialog").get_by_label("API key").fill(DEMO_KEY)
    page.get_by_role("dialog").get_by_role("button", name="Connect to OpenAI").click()
    page.get_by_text("OpenAI is reconnected with the new key.").wait_for()
    screenshot(page, "history-quota-reconnected")

    # Back to the history: replay Ann's run from the failed step.
    page.goto(f"/workflows/{workflow.pk}/history/?event=failed")
    page.locator("#history-results tbody tr").get_by_role("link", name="Failed").click()
    page.get_by_role("link", name="Replay from the failed step").click()
    page.get_by_text("1 failed step will run again").wait_for()
    expected = Decimal(bob_usage.cost_usd).quantize(Decimal("0.000001"))
    assert page.locator("[data-estimated-cost]").inner_text() == f"${expected}"
    assert page.locator("[data-estimated-tokens]").inner_text() == str(bob_usage.total_tokens)
    screenshot(page, "history-quota-replay-confirm")
    page.get_by_role("button", name="Replay 1 step").click()

    # The worker runs it; the run detail refreshes itself until it ends.
    page.locator('[data-run-status="completed"]').wait_for(timeout=60_000)
    assert page.locator("#run [role=alert]").count() == 0
    assert step.locator(".history-step-header").get_by_text("Succeeded", exact=True).count() == 1
    assert step.get_by_text("gpt-4o-mini", exact=True).count() >= 1
    # The quota failure stays in the step's attempts, marked as before the replay.
    assert step.locator('[data-attempt-kind="failed"]').count() == 1
    screenshot(page, "history-quota-run-replayed")
    assert Task.objects.filter(title="Code: OH").count() == 1  # Ann's task, exactly once
    assert Task.objects.count() == 2  # and Bob's, not run again
    assert problems == []
