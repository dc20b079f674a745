"""The third use case, in-process against the OpenAI simulator and a real SMTP server:
a deal enters "Qualified to buy" → the Sales email drafter drafts → the deal owner edits
and approves → the edited email reaches the deal's contact. Rejected: nothing is sent."""

from __future__ import annotations

import pytest

from crm import services as crm
from crm.models import ObjectType, Task
from marketplace.integrations.approvals.models import ApprovalRequest
from marketplace.integrations.openai.demo import (
    SALES_EMAIL_INSTRUCTIONS,
    workspace_assistant_ensure,
)
from tests.conftest import client_for
from tests.integrations.openai.conftest import connect, settle
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)
from workflows import services
from workflows.builder.templates import template_create
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db


@pytest.fixture
def moved(sim, acme, admin_user, rep_user, smtp_server, settings):
    """The template turned on, and the rep's deal moved to "Qualified to buy"."""
    smtp_server.use(settings)
    connect(acme)
    workspace_assistant_ensure(acme, "Sales email drafter", SALES_EMAIL_INSTRUCTIONS)
    deal = crm.record_create(
        account=acme,
        object_type=ObjectType.DEAL,
        values={"name": "Globex renewal", "stage": "appointmentscheduled", "owner": rep_user.pk},
    )
    jane = crm.record_create(
        account=acme,
        object_type=ObjectType.CONTACT,
        values={"first_name": "Jane", "email": "jane@globex.example"},
    )
    crm.association_create(record=deal, other=jane)
    workflow = template_create(account=acme, key="draft_approve_send", actor=admin_user)
    services.workflow_publish(workflow=workflow)
    services.workflow_turn_on(workflow=workflow)
    crm.record_update(record=deal, values={"stage": "qualifiedtobuy"})
    settle()
    return ApprovalRequest.objects.get()


def test_the_owner_edits_and_approves_and_the_contact_gets_the_edited_email(
    moved, rep_user, smtp_server
):
    assert moved.approver == rep_user and "Hi Jane," in moved.original_text
    assert smtp_server.messages == []  # nothing goes out before the approval
    edited = moved.original_text + "\n\nP.S. Edited by Riley."

    client_for(rep_user).post(
        f"/approvals/{moved.pk}/decide/", {"decision": "approve", "text": edited}
    )
    settle()

    smtp_server.wait(1)
    [sent] = smtp_server.messages
    assert sent["To"] == "jane@globex.example"
    body = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "P.S. Edited by Riley." in body
    assert ActionExecution.objects.get(action_type="email_contact").status == "succeeded"


def test_a_rejected_draft_sends_nothing(moved, rep_user, smtp_server):
    client_for(rep_user).post(f"/approvals/{moved.pk}/decide/", {"decision": "reject"})
    settle()
    assert smtp_server.messages == []
    assert not ActionExecution.objects.filter(action_type="email_contact").exists()
    assert not Task.objects.exists()
