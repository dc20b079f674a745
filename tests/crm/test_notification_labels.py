"""The notification inbox reads like the product: a workflow's notification shows the
labels of the values it quotes (never the stored codes), and every notification names
where it leads — the record, the task, the workflow, the app — in the reader's language."""

from __future__ import annotations

import pytest
from django.utils import translation

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


def test_each_reader_sees_a_notification_in_their_own_language(acme, admin_user, admin_client):
    """The title is rendered when read, in the reader's language, not in the language of
    the request (or worker) that wrote it."""
    from crm.models import Role
    from tests.conftest import client_for, make_user

    camille = make_user(acme, "camille", Role.SUPER_ADMIN, first_name="Camille")
    workflow = make_workflow(
        acme, chain({"type": "delay", "config": {"amount": 1, "unit": "days"}})
    )
    workflow.name = "Qualify visitors"
    workflow.save()
    with translation.override("fr"):  # written while French was active
        ledger._admins_notify_failure(workflow, "The assistant was deleted.")
    assert Notification.objects.filter(account=acme).count() == 2
    english = inbox(admin_client)
    french = inbox(client_for(camille), "fr")
    assert "Workflow “Qualify visitors” has failed actions" in english
    assert "Le workflow" not in english
    assert "Le workflow « Qualify visitors » a des actions en échec" in french
    assert "has failed actions" not in french


def test_a_task_assigned_from_a_french_page_reads_in_english_for_its_assignee(
    acme, admin_user, rep_user, rep_client
):
    with translation.override("fr"):
        activities.task_create(
            account=acme, actor=admin_user, title="Send the quote", assignee=rep_user
        )
    assert f"{admin_user} assigned you a task: Send the quote" in inbox(rep_client)
    assert f"{admin_user} vous a assigné une tâche : Send the quote" in inbox(rep_client, "fr")


def test_existing_titles_keep_their_text_and_known_ones_get_their_message(
    acme, admin_user, rep_user, rep_client
):
    """The migration that added title keys: a title of a known kind, in English or
    French, becomes its message; anything else keeps its text as written."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("crm.migrations.0011_notification_title_key")
    rows = [
        ("Ada vous a assigné une tâche\u00a0: Call back", "task-assigned:1"),
        ("Monthly AI budget reached", "openai-budget:1:100:2026-12"),
        ("Lead is hot", "exec:7"),
        ("Something a key names but the text does not match", "approval:3"),
    ]
    for title, key in rows:
        Notification.objects.create(
            account=acme, recipient=rep_user, title=title, idempotency_key=key
        )
    migration.titles_keyed(apps, None)
    english, french = inbox(rep_client), inbox(rep_client, "fr")
    assert "Ada assigned you a task: Call back" in english
    assert "Ada vous a assigné une tâche : Call back" in french
    assert "Monthly AI budget reached" in english and "Budget IA mensuel atteint" in french
    for text in (english, french):
        assert "Lead is hot" in text
        assert "Something a key names but the text does not match" in text


def test_a_notification_email_is_written_in_each_recipients_language(
    acme, admin_user, settings, django_capture_on_commit_callbacks
):
    """The language a user picks in the menu is kept on them: their notification emails
    are written in it, whoever's request sent them."""
    from django.core import mail
    from django.utils.translation import gettext_noop

    from crm.models import Role
    from crm.notifications import Message, super_admins_notify
    from tests.conftest import client_for, make_user

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    camille = make_user(acme, "camille", Role.SUPER_ADMIN)
    response = client_for(camille).post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert response.status_code == 302
    camille.refresh_from_db()
    assert camille.language == "fr"
    with django_capture_on_commit_callbacks(execute=True):
        super_admins_notify(
            account=acme,
            title=Message(gettext_noop("Monthly AI budget reached")),
            idempotency_key="budget-1",
            email=True,
        )
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects == {
        "admin@example.com": "Monthly AI budget reached",
        "camille@example.com": "Budget IA mensuel atteint",
    }


def test_signing_in_brings_back_the_language_the_user_picked(acme, admin_user):
    """A user who picked French in the menu finds the pages in French after signing in on
    another browser, whatever language the sign-in page was shown in."""
    from django.conf import settings
    from django.test import Client

    from tests.conftest import PASSWORD

    admin_user.language = "fr"
    admin_user.save(update_fields=["language"])
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = browser.post("/login/", {"username": admin_user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    page = browser.get("/notifications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="fr"' in page
