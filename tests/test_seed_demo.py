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
