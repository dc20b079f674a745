"""The audit log: a row for each audited action, written in the change's transaction,
and Settings › Audit log (super admins; filters; CSV with formulas neutralized)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client

from crm.models import ApiToken, AuditAction, AuditEvent, Role
from marketplace.integrations.openai import services as openai_services
from marketplace.integrations.openai import usage
from marketplace.integrations.openai.versions import workspace_assistant_save
from marketplace.services import connection_uninstall
from openai_simulator.config import DEMO_KEY
from tests.conftest import PASSWORD
from tests.integrations.openai.conftest import connect, sim, simulator_session, workspace_assistant  # noqa: F401
from tests.workflows.conftest import chain, contact, make_workflow
from workflows import services as workflow_services

pytestmark = pytest.mark.django_db


def rows(action: AuditAction, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters))


def test_sign_ins_and_failures_are_recorded(admin_user, acme, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin_user.set_password(PASSWORD)
    admin_user.save()
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    client.post("/login/", {"username": "admin", "password": PASSWORD}, REMOTE_ADDR="192.0.2.1")
    (signed_in,) = rows(AuditAction.SIGN_IN)
    assert signed_in.actor == admin_user and signed_in.account == acme
    assert signed_in.ip_address == "192.0.2.1"

    other = Client()
    other.post("/login/", {"username": "admin", "password": "wrong"}, REMOTE_ADDR="192.0.2.2")
    (failed,) = rows(AuditAction.SIGN_IN_FAILED)
    assert failed.actor is None and failed.account == acme and failed.target == "admin"
    other.post("/login/", {"username": "admin", "password": "wrong"}, REMOTE_ADDR="192.0.2.2")
    other.post("/login/", {"username": "admin", "password": PASSWORD}, REMOTE_ADDR="192.0.2.2")
    assert rows(AuditAction.SIGN_IN_LOCKED, account=acme)
    # An unknown user name belongs to no account: no account's log shows it.
    other.post("/login/", {"username": "nobody", "password": "x"}, REMOTE_ADDR="192.0.2.3")
    assert rows(AuditAction.SIGN_IN_FAILED, target="nobody", account=None)


def test_a_role_change_is_recorded_with_who_made_it(rep_user, acme, db):
    from crm.models import User

    operator = User.objects.create_superuser("operator", "op@example.com", PASSWORD)
    client = Client()
    client.force_login(operator)
    page = client.get(f"/admin/crm/user/{rep_user.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in {"groups", "user_permissions", "password"}
    }
    data.update(
        account=acme.pk,
        role=Role.WORKFLOW_BUILDER,
        date_joined_0=rep_user.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=rep_user.date_joined.strftime("%H:%M:%S"),
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(f"/admin/crm/user/{rep_user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    (event,) = rows(AuditAction.ROLE_CHANGED)
    assert event.account == acme and event.actor == operator and event.target == str(rep_user)
    assert event.detail == {"from": "sales_rep", "to": "workflow_builder"}


def test_api_tokens_created_and_revoked_are_recorded(admin_client, admin_user):
    admin_client.post(
        "/settings/api-tokens/",
        {"create": "1", "name": "Website", "scope": "read", "expires_in": "90"},
    )
    (created,) = rows(AuditAction.API_TOKEN_CREATED)
    assert created.actor == admin_user and created.target == "Website"
    row = ApiToken.objects.get(name="Website")
    admin_client.post("/settings/api-tokens/", {"revoke": "1", "token": str(row.pk)})
    assert rows(AuditAction.API_TOKEN_REVOKED, target="Website", actor=admin_user)


def test_connections_and_model_access_are_recorded(acme, admin_user, sim):
    result = openai_services.connection_install(account=acme, user=admin_user, api_key=DEMO_KEY)
    connection = result.connection
    assert rows(AuditAction.CONNECTION_INSTALLED, account=acme, actor=admin_user)
    openai_services.connection_reconnect(connection=connection, user=admin_user, api_key=DEMO_KEY)
    assert rows(AuditAction.CONNECTION_RECONNECTED, account=acme)
    openai_services.model_access_update(
        connection=connection, user=admin_user, model_ids=["gpt-4o-mini"]
    )
    (models,) = rows(AuditAction.MODEL_ACCESS_CHANGED, account=acme)
    assert models.detail["change"].startswith("-")  # the other models were taken away
    connection_uninstall(connection=connection, actor=admin_user)
    assert rows(AuditAction.CONNECTION_UNINSTALLED, account=acme, actor=admin_user)


def test_budgets_and_prices_are_recorded(acme):
    connection = connect(acme)
    usage.budget_set(connection=connection, workflow=None, unit="usd", monthly_limit=Decimal("25"))
    (budget,) = rows(AuditAction.BUDGET_CHANGED, account=acme)
    assert budget.detail == {"unit": "usd", "monthly_limit": "25"}
    price = usage.price_save(
        account=acme,
        model="my-model",
        input=Decimal("1"),
        cached_input=Decimal("0.5"),
        output=Decimal("2"),
    )
    assert rows(AuditAction.PRICE_CHANGED, account=acme, target="my-model")
    usage.price_remove(account=acme, price_id=price.pk)
    assert rows(AuditAction.PRICE_CHANGED, account=acme, detail__removed=True)


def test_workflow_publish_turn_on_and_off_are_recorded(acme, builder_client, builder_user):
    workflow = make_workflow(acme, chain({"type": "create_task", "config": {"title": "x"}}))
    assert rows(AuditAction.WORKFLOW_PUBLISHED, account=acme, target="Test workflow")
    assert rows(AuditAction.WORKFLOW_TURNED_ON, account=acme)
    workflow_services.workflow_turn_off(workflow=workflow)
    assert rows(AuditAction.WORKFLOW_TURNED_OFF, account=acme, target="Test workflow")


def test_an_assistant_edit_is_recorded(acme, admin_user):
    assistant = workspace_assistant(acme)
    assistant.instructions = "Answer with the two-letter code only."
    workspace_assistant_save(assistant=assistant, user=admin_user, note="shorter")
    (event,) = rows(AuditAction.ASSISTANT_CHANGED, account=acme)
    assert event.actor == admin_user and event.target == "State formatter"
    assert event.detail["note"] == "shorter"


def test_bulk_deletes_and_imports_are_recorded(admin_client, acme):
    ids = [contact(acme, first_name=f"Gone{i}").pk for i in range(2)]
    admin_client.post("/objects/contacts/bulk/", {"ids": ids, "action": "delete", "confirm": "yes"})
    (deleted,) = rows(AuditAction.RECORDS_BULK_DELETED, account=acme)
    assert deleted.detail["count"] == 2 and sorted(deleted.detail["ids"]) == sorted(ids)

    from tests.crm.test_import import CONTACTS, start

    start(admin_client, CONTACTS)
    (started,) = rows(AuditAction.IMPORT_STARTED, account=acme)
    assert started.target == "contacts.csv" and started.detail["rows"] == 3


def test_data_control_changes_are_recorded(admin_client, acme):
    admin_client.post(
        "/settings/ai-data/", {"save": "1", "ai_mask_text": "on", "ai_retention_days": "30"}
    )
    (event,) = rows(AuditAction.DATA_CONTROLS_CHANGED, account=acme)
    assert event.detail["mask_text"] is True and event.detail["retention_days"] == 30
    # No property was checked as "may be sent": they are all withheld now.
    assert "email" in event.detail["withheld"]


def test_a_change_that_rolls_back_leaves_no_audit_row(acme):
    workflow = make_workflow(acme, chain({"type": "create_task", "config": {"title": "x"}}))
    with pytest.raises(RuntimeError), transaction.atomic():
        workflow_services.workflow_turn_off(workflow=workflow)
        raise RuntimeError("the change fails after the audit row was written")
    assert rows(AuditAction.WORKFLOW_TURNED_OFF) == []


# --- The page ------------------------------------------------------------------------


@pytest.fixture
def events(acme, admin_user, rep_user, globex):
    from crm.audit import audit_record

    with transaction.atomic():
        audit_record(action=AuditAction.SIGN_IN, actor=admin_user, target="admin")
        audit_record(
            action=AuditAction.API_TOKEN_CREATED, actor=admin_user, target='=HYPERLINK("x")'
        )
        audit_record(action=AuditAction.SIGN_IN, actor=rep_user, target="rep")
        audit_record(action=AuditAction.SIGN_IN, account=globex, target="globex-person")


def test_only_super_admins_see_the_audit_log(rep_client, builder_client, admin_client, events):
    assert rep_client.get("/settings/audit-log/").status_code == 403
    assert builder_client.get("/settings/audit-log/export.csv").status_code == 403
    page = admin_client.get("/settings/audit-log/")
    text = page.content.decode()
    assert page.status_code == 200 and "API token created" in text
    # Another account's events are not shown.
    assert "globex-person" not in text


def test_the_audit_log_filters_by_who_what_and_when(admin_client, events):
    by_who = admin_client.get("/settings/audit-log/", {"who": "rep"})
    assert [e.target for e, _d in by_who.context["rows"]] == ["rep"]
    by_what = admin_client.get("/settings/audit-log/", {"what": "api_token_created"})
    assert len(by_what.context["rows"]) == 1
    future = admin_client.get("/settings/audit-log/", {"since": "2999-01-01"})
    assert (
        future.context["rows"] == [] and "Nothing matches these filters." in future.content.decode()
    )
    backwards = admin_client.get(
        "/settings/audit-log/", {"since": "2026-02-01", "until": "2026-01-01"}
    )
    assert backwards.status_code == 200 and "swap the two dates" in backwards.content.decode()
    garbage = admin_client.get("/settings/audit-log/", {"since": "yesterday", "what": "<x>"})
    assert garbage.status_code == 200 and "Enter a valid date." in garbage.content.decode()


def test_the_csv_export_neutralizes_formulas(admin_client, events):
    response = admin_client.get("/settings/audit-log/export.csv", {"what": "api_token_created"})
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0] == ["When", "Who", "What", "On", "Detail", "Address"]
    assert len(table) == 2
    assert table[1][3] == '\'=HYPERLINK("x")' and table[1][2] == "API token created"
    bad = admin_client.get("/settings/audit-log/export.csv", {"since": "nope"})
    assert bad.status_code == 400 and "Enter a valid date." in bad.content.decode()


def test_the_audit_log_is_in_french(admin_user, events):
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(admin_user)
    text = client.get("/settings/audit-log/").content.decode()
    assert "Journal d’audit" in text and "Jeton d’API créé" in text
