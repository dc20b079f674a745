"""Build a workflow from scratch in Chromium, turn it on, and let a real Celery worker run
it: create (Contacts) → criteria "State/Region is known" → + → CRM → Create task →
title with Insert data → First name → assign to the rep → Save → Review → Turn on."""

from __future__ import annotations

import pytest

from crm.models import Task
from tests.accessibility import audited_context, close_checked
from tests.builder.conftest import contact
from tests.builder.steps import (
    add_action,
    create_workflow,
    insert_data,
    labels,
    log_in_as,
    review_and_turn_on,
    save,
    set_criteria,
    type_into,
)
from tests.celery_worker import wait_for
from tests.conftest import screenshot
from workflows.models import Enrollment, Workflow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"WORKFLOWS_SWEEP_SECONDS": "1", "WORKFLOWS_RESEND_AFTER_SECONDS": "2"}


@pytest.fixture
def localized_page(browser, live_server, request):
    language = request.param
    context = audited_context(
        browser,
        base_url=live_server.url,
        viewport={"width": 1440, "height": 900},
        locale="fr-FR" if language == "fr" else "en-US",
    )
    page = context.new_page()
    page.set_default_timeout(30_000)  # a shared, loaded machine
    yield language, page
    close_checked(context)  # fails on serious/critical axe-core violations


@pytest.mark.parametrize("localized_page", ["en", "fr"], indirect=True)
def test_a_builder_builds_a_task_workflow_that_a_worker_runs(
    localized_page, acme, builder_user, rep_user, celery_worker
):
    language, page = localized_page
    L = labels(language)
    celery_worker(beat=True, env=FAST)
    ann = contact(acme, first_name="Ann", state="California")
    contact(acme, first_name="Nobody")  # no state: does not match

    log_in_as(page, "builder")
    create_workflow(page, L, object_label=L["contact"], name="Call new leads")
    set_criteria(page, L, property_label=L["state"])
    screenshot(page, f"builder-{language}-1-criteria")
    add_action(page, L["crm_section"], L["create_task"])
    type_into(page, L["title"], "Call ")
    insert_data(page, L["title"], L["contact_properties"], None, L["first_name"])
    page.get_by_label(L["assigned_to"]).select_option(label="Riley Rep")
    screenshot(page, f"builder-{language}-2-task")
    save(page, L)
    screenshot(page, f"builder-{language}-3-canvas")

    workflow = Workflow.objects.get(name="Call new leads")
    assert workflow.graph["steps"]["1"]["config"]["title"].startswith(
        "Call {{ object.first_name }}"
    )
    review_and_turn_on(page, L)
    screenshot(page, f"builder-{language}-4-on")

    wait_for(
        lambda: Task.objects.filter(assignee=rep_user).exists(),
        timeout=90,
        message="the rep's task",
    )
    task = Task.objects.get(assignee=rep_user)
    assert task.title.strip() == "Call Ann"
    assert list(task.records.all()) == [ann]
    assert Enrollment.objects.filter(workflow=workflow).count() == 1

    bea = contact(acme, first_name="Bea", state="Oregon")  # enrolls on change, after turn-on
    wait_for(
        lambda: Task.objects.filter(assignee=rep_user, records=bea).exists(),
        timeout=90,
        message="the task for a contact created after turning on",
    )
