""" "Wait for approval": the enrollment waits without a worker, the approver edits and
approves (the edited draft is what the contact gets), rejects (nothing is sent), or
nobody decides in time (the sweeper fires the time-out path). Decisions are recorded
once; links and the inbox load from the user's account only."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Notification, Task
from marketplace.integrations.approvals.models import ApprovalRequest
from marketplace.integrations.approvals.services import (
    approval_decide,
    approval_from_link,
    approval_link_path,
    approvals_bulk_approve,
)
from tests.celery_worker import wait_for
from tests.conftest import client_for
from tests.workflows.conftest import contact, drain, make_workflow
from workflows.engine import runner, sweeper
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db


def approval_graph(approver="owner"):
    """Draft → Wait for approval → If approved: Send email; no decision: a task;
    rejected: the end."""
    return {
        "start": 1,
        "steps": {
            "1": {"type": "test_probe", "config": {"response": "Dear Ann, our offer."}, "next": 2},
            "2": {
                "type": "approval_wait",
                "config": {
                    "approver": approver,
                    "draft": "{{ actions.1.response }}",
                    "instructions": "Check the tone.",
                    "timeout_days": 3,
                },
                "next": 3,
            },
            "3": {
                "type": "branch",
                "config": {
                    "paths": [
                        {
                            "name": "Approved",
                            "groups": [
                                [
                                    {
                                        "output": "2.decision",
                                        "operator": "eq_any",
                                        "values": ["approved"],
                                    }
                                ]
                            ],
                            "next": 4,
                        },
                        {
                            "name": "No decision",
                            "groups": [
                                [
                                    {
                                        "output": "2.decision",
                                        "operator": "eq_any",
                                        "values": ["timeout"],
                                    }
                                ]
                            ],
                            "next": 5,
                        },
                    ],
                    "none_next": None,
                },
                "next": None,
            },
            "4": {
                "type": "email_contact",
                "config": {
                    "to": "record",
                    "sender": "shared",
                    "subject": "Our offer",
                    "body": "{{ actions.2.text }}",
                },
                "next": None,
            },
            "5": {
                "type": "create_task",
                "config": {"title": "Nobody approved the draft", "assignee": "owner"},
                "next": None,
            },
        },
    }


@pytest.fixture
def smtp(smtp_server, settings):
    smtp_server.use(settings)
    settings.SITE_URL = "http://crm.example.com"
    return smtp_server


@pytest.fixture
def waiting(acme, admin_user, rep_user, smtp, django_capture_on_commit_callbacks):
    """Ann's enrollment waiting for her owner (the rep) to decide."""
    rep_user.email = "rep@acme.example"
    rep_user.save()
    make_workflow(acme, approval_graph())
    contact(acme, first_name="Ann", email="ann@example.com", owner=rep_user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        drain()
    return ApprovalRequest.objects.get()


def emails_to(smtp, address):
    return [m for m in smtp.messages if m["To"] == address]


def test_the_enrollment_waits_without_a_worker_and_the_owner_is_asked(
    waiting, acme, rep_user, smtp
):
    step = ActionExecution.objects.get(action_type="approval_wait")
    assert step.status == "waiting" and step.lease_expires_at is None
    assert step.due_at == waiting.expires_at  # its time-out, for the sweeper
    assert not ActionExecution.objects.due().exists()
    assert sweeper.executions_sweep()["sent"] == 0  # nothing is polled while it waits
    assert waiting.approver == rep_user and waiting.original_text == "Dear Ann, our offer."

    [notification] = Notification.objects.filter(recipient=rep_user)
    # The link is signed with its time: it opens this request (and the email holds it).
    token = notification.url.removeprefix("/approvals/link/").rstrip("/")
    assert approval_from_link(token, max_age=dt.timedelta(days=1)) == (acme.pk, waiting.pk)
    smtp.wait(1)
    [asked] = emails_to(smtp, "rep@acme.example")
    assert f"http://crm.example.com{notification.url}" in asked.get_content()


def test_the_edited_draft_is_what_the_contact_gets(waiting, rep_user, smtp):
    rep = client_for(rep_user)
    page = rep.get(approval_link_path(waiting))
    assert page.status_code == 200 and b"Dear Ann, our offer." in page.content

    rep.post(
        f"/approvals/{waiting.pk}/decide/",
        {"decision": "approve", "text": "Dear Ann,\r\nour BEST offer.", "reason": "tone"},
    )
    drain()

    smtp.wait(2)
    [sent] = emails_to(smtp, "ann@example.com")
    assert "Dear Ann,\nour BEST offer." in sent.get_body(("plain",)).get_content().replace(
        "\r\n", "\n"
    )
    step = ActionExecution.objects.get(action_type="approval_wait")
    assert step.status == "succeeded"
    assert step.outputs["original"] == "Dear Ann, our offer."
    assert step.outputs["text"] == "Dear Ann,\nour BEST offer."
    assert step.outputs["edited"] is True and step.outputs["decided_by"] == str(rep_user)

    # The link of a decided request says who decided.
    page = rep.get(approval_link_path(waiting))
    assert b"Approved by" in page.content and str(rep_user).encode() in page.content


def test_a_rejected_draft_is_not_sent(waiting, rep_user, smtp):
    client_for(rep_user).post(
        f"/approvals/{waiting.pk}/decide/", {"decision": "reject", "reason": "Wrong price"}
    )
    drain()
    assert emails_to(smtp, "ann@example.com") == []
    step = ActionExecution.objects.get(action_type="approval_wait")
    assert step.outputs["decision"] == "rejected" and step.outputs["reason"] == "Wrong price"
    assert not ActionExecution.objects.filter(action_type="email_contact").exists()


def test_no_decision_in_time_takes_the_time_out_path_via_the_sweeper(waiting, smtp):
    past = timezone.now() - dt.timedelta(seconds=1)
    # Three days pass.
    ApprovalRequest.objects.update(expires_at=past)
    ActionExecution.objects.filter(status="waiting").update(due_at=past)

    assert sweeper.executions_sweep()["waits_expired"] == 1
    drain()

    step = ActionExecution.objects.get(action_type="approval_wait")
    assert step.outputs["decision"] == "timeout"
    assert Task.objects.filter(title="Nobody approved the draft").exists()
    assert emails_to(smtp, "ann@example.com") == []
    assert ApprovalRequest.objects.get().status == "expired"


def test_someone_else_cannot_decide_and_a_rep_cannot_bulk_approve(waiting, builder_user):
    other = client_for(builder_user)
    assert (
        other.post(f"/approvals/{waiting.pk}/decide/", {"decision": "approve"}).status_code == 403
    )
    assert other.post("/approvals/bulk/", {"request": [waiting.pk]}).status_code == 403
    assert ApprovalRequest.objects.get().status == "pending"


def test_another_accounts_link_and_an_expired_link_are_clear_404s(waiting, globex_client, rep_user):
    page = globex_client.get(approval_link_path(waiting))
    assert page.status_code == 404 and b"This approval link does not work" in page.content
    assert globex_client.get(f"/approvals/{waiting.pk}/").status_code == 404

    ApprovalRequest.objects.update(status="expired")
    page = client_for(rep_user).get(approval_link_path(waiting))
    assert page.status_code == 404 and b"This approval request has expired" in page.content


def test_the_inbox_filters_and_a_super_admin_approves_in_bulk(waiting, admin_client, rep_user):
    mine = client_for(rep_user).get("/approvals/?view=mine")
    assert b"Ann" in mine.content
    assert b"Ann" not in admin_client.get("/approvals/?view=mine").content
    assert b"Ann" in admin_client.get("/approvals/?view=all").content

    admin_client.post("/approvals/bulk/", {"request": [waiting.pk]})
    assert ApprovalRequest.objects.get().status == "approved"
    assert ActionExecution.objects.get(action_type="approval_wait").status == "pending"


@pytest.mark.django_db(transaction=True)
def test_two_people_deciding_at_once_record_one_decision(acme, admin_user, rep_user, smtp):
    make_workflow(acme, approval_graph())
    contact(acme, first_name="Ann", email="ann@example.com", owner=rep_user.pk)
    drain()
    request = ApprovalRequest.objects.get()
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def decide(user, approve):
        try:
            barrier.wait()
            results[user.username] = approval_decide(request=request, user=user, approve=approve)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(admin_user, True)),
        threading.Thread(target=decide, args=(rep_user, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results.values()) == [False, True]
    decided = ApprovalRequest.objects.get()
    winner = admin_user if results[admin_user.username] else rep_user
    assert decided.decided_by == winner
    assert decided.status == ("approved" if winner == admin_user else "rejected")
    assert ActionExecution.objects.get(action_type="approval_wait").status == "pending"
    assert re.match(r"^(approved|rejected)$", decided.status)


def test_the_run_detail_shows_the_wait_then_the_original_and_the_edit(
    waiting, rep_user, admin_client
):
    step = ActionExecution.objects.get(action_type="approval_wait")
    run = f"/workflows/{step.workflow_id}/history/runs/{step.enrollment_id}/"
    page = admin_client.get(run)
    assert page.status_code == 200 and b"Waiting" in page.content
    assert admin_client.get(f"/workflows/{step.workflow_id}/history/").status_code == 200

    client_for(rep_user).post(
        f"/approvals/{waiting.pk}/decide/", {"decision": "approve", "text": "Shorter text."}
    )
    drain()
    page = admin_client.get(run).content.decode()
    assert "Original text" in page and "Dear Ann, our offer." in page
    assert "Approved text" in page and "Shorter text." in page


def test_the_inbox_is_in_the_automation_menu(rep_user):
    page = client_for(rep_user).get("/workflows/").content.decode()
    assert '<a href="/approvals/">Approvals</a>' in page


def test_a_bulk_approved_batch_reads_alike_whatever_its_size(
    acme, admin_user, rep_user, smtp, django_capture_on_commit_callbacks
):
    """Set-based: the resumed approvals' requests and the emails' owners (Reply-To)
    are read once per batch, so a batch of 6 reads what a batch of 2 reads; each email
    only adds its own at-most-once marker (written, not read)."""
    make_workflow(acme, approval_graph())

    def reads_of_a_bulk_approval(count: int) -> int:
        for index in range(count):
            contact(
                acme,
                first_name=f"C{index}",
                email=f"c{count}-{index}@example.com",
                owner=rep_user.pk,
            )
        with django_capture_on_commit_callbacks(execute=True):
            drain()
        pending = ApprovalRequest.objects.filter(status="pending").values_list("pk", flat=True)
        assert approvals_bulk_approve(user=admin_user, request_ids=list(pending)) == count
        due = list(ActionExecution.objects.due().values_list("pk", flat=True))
        with CaptureQueriesContext(connection) as queries:
            runner.executions_run(execution_ids=due, queue="default")
        wait_for(
            lambda: len([m for m in smtp.messages if m["To"].startswith(f"c{count}-")]) == count,
            timeout=30,
            message=f"the {count} approved emails",
        )
        return sum(1 for q in queries if q["sql"].lstrip().upper().startswith("SELECT"))

    assert reads_of_a_bulk_approval(6) == reads_of_a_bulk_approval(2)
