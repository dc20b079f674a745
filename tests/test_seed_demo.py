from django.core.management import call_command

from crm.models import Account, Record, Role, User


def test_demo_data_converges_when_loaded_twice(db):
    call_command("seed_demo", password="demo-pass-123", contacts=40, companies=10)
    first = sorted(Record.objects.values_list("object_type", "name"))
    call_command("seed_demo", password="demo-pass-123", contacts=40, companies=10)
    assert sorted(Record.objects.values_list("object_type", "name")) == first
    acme = Account.objects.get(name="Acme")
    assert Account.objects.filter(name="Acme").count() == 1
    assert dict(User.objects.filter(account=acme).values_list("username", "role")) == {
        "admin": Role.SUPER_ADMIN,
        "builder": Role.WORKFLOW_BUILDER,
        "rep": Role.SALES_REP,
    }
    # At least what was asked for (the use cases' demo adds their own contacts and companies).
    assert Record.objects.filter(account=acme, object_type="contact").count() >= 40
    assert Record.objects.filter(account=acme, object_type="company").count() >= 10
    assert User.objects.get(username="rep").check_password("demo-pass-123")


def test_demo_records_are_stored_exactly_as_the_services_store_them(db):
    from crm import services
    from crm.demo import records_fast_create
    from crm.models import PropertyValue

    acme = Account.objects.create(name="Acme")
    owner = User.objects.create_user("owner", account=acme)
    row = {
        "email": "jane@x.example",
        "first_name": "Jane",
        "last_name": "Doe",
        "lifecycle_stage": "lead",
        "owner": owner.pk,
    }
    [fast] = records_fast_create(account=acme, object_type="contact", rows=[row])
    [slow] = services.records_bulk_create(account=acme, object_type="contact", rows=[row])
    fast, slow = Record.objects.get(pk=fast), Record.objects.get(pk=slow)
    assert (fast.properties, fast.name, fast.email, fast.owner_id) == (
        slow.properties,
        slow.name,
        slow.email,
        slow.owner_id,
    )

    def index(record):
        return sorted(
            PropertyValue.objects.filter(record=record).values_list(
                "property_id", "text_value", "number_value", "datetime_value"
            )
        )

    assert index(fast) == index(slow)
    assert fast.created_at is not None


def test_demo_data_holds_the_qualify_visitors_and_draft_sales_email_use_cases(db):
    from crm.models import Form
    from crm.services import associated_records
    from marketplace.integrations.openai.models import WorkspaceAssistant
    from workflows.models import Workflow

    for _run in range(2):  # converges
        call_command("seed_demo", password="demo-pass-123", contacts=5, companies=2)
    acme = Account.objects.get(name="Acme")
    qualifier = WorkspaceAssistant.objects.get(account=acme, name="Lead qualifier")
    assert [f["name"] for f in qualifier.output_fields] == ["rating", "reason"]
    drafter = WorkspaceAssistant.objects.get(account=acme, name="Sales email drafter")
    form = Form.objects.get(account=acme, name="Contact us")
    assert [f.label for f in form.fields.order_by("position")][-1] == "What are you looking for?"
    assert form.is_active

    qualify = Workflow.objects.get(account=acme, name="Qualify visitors")
    draft = Workflow.objects.get(account=acme, name="Draft sales emails")
    assert not qualify.is_enabled and not draft.is_enabled
    assert qualify.form_id == form.pk
    assert qualify.graph["steps"]["1"]["config"]["assistant"] == f"ws:{qualifier.pk}"
    assert "{{ object.looking_for }}" in qualify.graph["steps"]["1"]["config"]["prompt"]
    assert draft.graph["steps"]["1"]["config"]["assistant"] == f"ws:{drafter.pk}"

    deals = Record.objects.filter(account=acme, object_type="deal")
    assert deals.count() == 3
    assert {d.properties["stage"] for d in deals} == {"appointmentscheduled"}
    for deal in deals:
        assert associated_records(deal, "contact").count() == 1
        assert associated_records(deal, "company").count() == 1
