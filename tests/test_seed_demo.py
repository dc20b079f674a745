from django.core.management import call_command

from crm.models import Account, Record, Role, User


def test_demo_data_converges_when_loaded_twice(db):
    call_command("seed_demo", password="demo-pass-123", contacts=40, companies=10)
    call_command("seed_demo", password="demo-pass-123", contacts=40, companies=10)
    acme = Account.objects.get(name="Acme")
    assert Account.objects.filter(name="Acme").count() == 1
    assert dict(User.objects.filter(account=acme).values_list("username", "role")) == {
        "admin": Role.SUPER_ADMIN,
        "builder": Role.WORKFLOW_BUILDER,
        "rep": Role.SALES_REP,
    }
    assert Record.objects.filter(account=acme, object_type="contact").count() == 40
    assert Record.objects.filter(account=acme, object_type="company").count() == 10
    assert User.objects.get(username="rep").check_password("demo-pass-123")


def test_demo_records_are_stored_exactly_as_the_services_store_them(db):
    from crm import services
    from crm.demo import records_fast_create
    from crm.models import PropertyValue

    acme = Account.objects.create(name="Acme")
    owner = User.objects.create_user("owner", account=acme)
    row = {"email": "jane@x.example", "first_name": "Jane", "last_name": "Doe",
           "lifecycle_stage": "lead", "owner": owner.pk}
    [fast] = records_fast_create(account=acme, object_type="contact", rows=[row])
    [slow] = services.records_bulk_create(account=acme, object_type="contact", rows=[row])
    fast, slow = Record.objects.get(pk=fast), Record.objects.get(pk=slow)
    assert (fast.properties, fast.name, fast.email, fast.owner_id) == (
        slow.properties, slow.name, slow.email, slow.owner_id)

    def index(record):
        return sorted(PropertyValue.objects.filter(record=record).values_list(
            "property_id", "text_value", "number_value", "datetime_value"))

    assert index(fast) == index(slow)
    assert fast.created_at is not None
