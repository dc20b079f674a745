"""The notification inbox reads like the product: a workflow's notification shows the
labels of the values it quotes (never the stored codes), and every notification names
where it leads — the record, the task, the workflow, the app — in the reader's language."""

from __future__ import annotations

import pytest

from crm import activities
from crm.models import Notification
from tests.test_pages_read_as_product import raw_codes, visible_text
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.engine import ledger

pytestmark = pytest.mark.django_db


def inbox(client, language="en") -> str:
    return visible_text(
        client.get("/notifications/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    )


def test_a_workflow_notification_shows_labels_and_names_its_record(acme, rep_user, rep_client):
    make_workflow(
        acme,
        chain(
            {
                "type": "send_notification",
                "config": {
                    "recipients": ["owner"],
                    "subject": "{{ object.first_name }} is {{ object.lead_status }}",
                    "body": "Owner: {{ object.owner }}",
                },
            }
        ),
    )
    contact(acme, first_name="Ann", last_name="Lee", lead_status="in_progress", owner=rep_user.pk)
    drain()
    assert Notification.objects.filter(recipient=rep_user).count() == 1
    text = inbox(rep_client)
    assert "Ann is In progress" in text and "Owner: Riley Rep" in text
    assert "Contact: Ann Lee" in text
    assert "in_progress" not in text and raw_codes(text) == []
    assert "Contact : Ann Lee" in inbox(rep_client, "fr")


def test_a_task_notification_names_the_task(acme, admin_user, rep_user, rep_client):
    activities.task_create(
        account=acme, actor=admin_user, title="Send the quote", assignee=rep_user
    )
    assert "Task: Send the quote" in inbox(rep_client)
    assert "Tâche : Send the quote" in inbox(rep_client, "fr")


def test_a_failed_workflow_notification_leads_to_its_failed_runs(acme, admin_user, admin_client):
    workflow = make_workflow(
        acme, chain({"type": "delay", "config": {"amount": 1, "unit": "days"}})
    )
    workflow.name = "Qualify visitors"
    workflow.save()
    ledger._admins_notify_failure(workflow, "The assistant was deleted.")
    notification = Notification.objects.get(recipient=admin_user)
    assert notification.url == f"/workflows/{workflow.pk}/history/?event=failed"
    assert "Workflow: Qualify visitors" in inbox(admin_client)


def test_a_link_to_something_removed_names_nothing_and_breaks_nothing(acme, rep_user, rep_client):
    Notification.objects.create(
        account=acme, recipient=rep_user, title="Old news", url="/objects/contacts/999999/"
    )
    Notification.objects.create(account=acme, recipient=rep_user, title="Elsewhere", url="/nope/")
    text = inbox(rep_client)
    assert "Old news" in text and "Elsewhere" in text and "Contact:" not in text
