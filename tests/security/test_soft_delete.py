"""Deletes and imports by role, and soft deletes: hidden everywhere, undone from the
list, restorable for 30 days, purged after."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm import deletion
from crm.models import Record, TimelineEvent
from crm.tasks import deleted_records_purge
from tests.crm.factories import contact
from tests.crm.test_api import ApiClient, token  # noqa: F401  (fixture)
from tests.workflows.conftest import chain, make_workflow
from workflows.models import ActionExecution, Enrollment

pytestmark = pytest.mark.django_db
BULK = "/objects/contacts/bulk/"
DELETED = "/objects/contacts/deleted/"
TASK = {"type": "create_task", "config": {"title": "Follow up"}}


def bulk_delete(client, records):
    return client.post(
        BULK, {"ids": [r.pk for r in records], "action": "delete", "confirm": "yes"}, follow=True
    )


def test_a_sales_rep_cannot_bulk_delete_by_default(rep_client, acme):
    records = [contact(acme, first_name=f"C{i}") for i in range(2)]
    response = bulk_delete(rep_client, records)
    assert "Your role cannot delete records in bulk." in response.content.decode()
    assert Record.objects.filter(account=acme).count() == 2


def test_a_super_admin_allows_sales_reps_to_bulk_delete(admin_client, rep_client, acme):
    records = [contact(acme, first_name=f"C{i}") for i in range(2)]
    admin_client.post("/settings/users/", {"bulk_delete_roles": ["sales_rep"]})
    acme.refresh_from_db()
    assert acme.bulk_delete_roles == ["sales_rep"]

    response = bulk_delete(rep_client, records)

    assert "2 records were deleted. They can be restored for 30 days." in response.content.decode()
    assert not Record.objects.filter(account=acme).exists()


def test_the_permissions_form_shows_on_users_and_roles(admin_client):
    page = admin_client.get("/settings/users/").content.decode()
    assert "Delete records in bulk" in page and "Import CSV files" in page


def test_importing_is_for_super_admins_unless_a_role_is_allowed(admin_client, rep_client, acme):
    assert rep_client.get("/settings/import/").status_code == 403
    admin_client.post("/settings/users/", {"import_roles": ["sales_rep"]})
    assert rep_client.get("/settings/import/").status_code == 200


def test_deleted_records_are_hidden_from_lists_search_and_the_api(admin_client, acme, token):  # noqa: F811
    keep = contact(acme, first_name="Keep", email="keep@ex.com")
    gone = contact(acme, first_name="Gone", email="gone@ex.com")
    bulk_delete(admin_client, [gone])

    listing = admin_client.get("/objects/contacts/").content.decode()
    assert "keep@ex.com" in listing and "gone@ex.com" not in listing
    search = admin_client.get("/objects/contacts/?q=gone").content.decode()
    assert "gone@ex.com" not in search
    assert admin_client.get(f"/objects/contacts/{gone.pk}/").status_code == 404
    api = ApiClient(token)
    assert api.get(f"/objects/contacts/{gone.pk}").status_code == 404
    results = api.post("/objects/contacts/search", {}).json()["results"]
    assert [r["id"] for r in results] == [keep.pk]


def test_undo_on_the_list_brings_the_records_back(admin_client, acme):
    records = [contact(acme, first_name=f"C{i}") for i in range(3)]
    page = bulk_delete(admin_client, records).content.decode()
    assert "3 records deleted." in page and "Undo" in page

    response = admin_client.post(DELETED, {"ids": [r.pk for r in records]}, follow=True)

    assert "3 records were restored." in response.content.decode()
    assert Record.objects.filter(account=acme).count() == 3
    # The Undo button shows once, after the delete.
    assert "Undo" not in admin_client.get("/objects/contacts/").content.decode()


def test_deleted_records_are_listed_and_restored_one_by_one(admin_client, acme, admin_user):
    ann, bob = contact(acme, first_name="Ann"), contact(acme, first_name="Bob")
    bulk_delete(admin_client, [ann, bob])

    page = admin_client.get(DELETED).content.decode()
    assert "Ann" in page and "Bob" in page and str(admin_user) in page
    admin_client.post(DELETED, {"ids": [ann.pk]})

    assert list(Record.objects.filter(account=acme)) == [ann]


def test_another_accounts_records_are_neither_deleted_nor_restored(globex_client, acme):
    record = contact(acme, first_name="Ann")
    globex_client.post("/objects/contacts/bulk/", {"ids": [record.pk], "action": "delete"})
    assert Record.objects.filter(pk=record.pk).exists()
    deletion.records_delete(account=acme, object_type="contact", record_ids=[record.pk], actor=None)
    globex_client.post(DELETED, {"ids": [record.pk]})
    assert not Record.objects.filter(pk=record.pk).exists()


def test_a_deleted_record_leaves_its_workflows_and_does_not_enroll(acme):
    workflow = make_workflow(
        acme, chain({"type": "delay", "config": {"amount": 1, "unit": "hours"}}, TASK)
    )
    ann = contact(acme, first_name="Ann")
    enrollment = Enrollment.objects.get(record=ann)

    deletion.records_delete(account=acme, object_type="contact", record_ids=[ann.pk], actor=None)

    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.UNENROLLED
    assert not ActionExecution.objects.filter(enrollment=enrollment, status="pending").exists()
    # Turned off and on again with "enroll existing records": the deleted one stays out.
    from workflows import services

    services.workflow_turn_off(workflow=workflow)
    services.workflow_turn_on(workflow=workflow, enroll_existing=True)
    services.workflow_enroll_existing_now(workflow=workflow)
    assert Enrollment.objects.filter(workflow=workflow).count() == 1


def test_records_deleted_over_30_days_ago_are_purged(acme):
    old, recent, alive = (contact(acme, first_name=n) for n in ("Old", "Recent", "Alive"))
    now = timezone.now()
    Record.all_objects.filter(pk=old.pk).update(deleted_at=now - dt.timedelta(days=31))
    Record.all_objects.filter(pk=recent.pk).update(deleted_at=now - dt.timedelta(days=29))

    for record in (old, alive):
        TimelineEvent.objects.create(account=acme, record=record, kind="note", data={})
    assert deleted_records_purge() == 1

    assert set(Record.all_objects.values_list("pk", flat=True)) == {recent.pk, alive.pk}
    # Its timeline goes with it (no foreign key constraint: Django's on_delete does it).
    assert not TimelineEvent.objects.filter(record_id=old.pk).exists()
    assert TimelineEvent.objects.filter(record_id=alive.pk, kind="note").exists()
    # Past 30 days a record cannot be restored either.
    Record.all_objects.filter(pk=recent.pk).update(deleted_at=now - dt.timedelta(days=30, hours=1))
    assert (
        deletion.records_restore(
            account=acme, object_type="contact", record_ids=[recent.pk], actor=None
        )
        == []
    )


def test_the_purge_runs_on_beat():
    from config.celery import app

    entry = app.conf.beat_schedule["crm-deleted-records-purge"]
    assert entry["task"] == "crm.deleted_records_purge"
