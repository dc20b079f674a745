"""Property values are validated and normalised by type, with messages that help."""

import pytest
from django.core.exceptions import ValidationError

from crm import services
from crm.models import ObjectType, PropertyDefinition, PropertyType, PropertyValue


def contact(account, **values):
    return services.record_create(account=account, object_type=ObjectType.CONTACT, values=values)


def test_every_new_account_gets_the_standard_properties(acme):
    names = set(
        PropertyDefinition.objects.filter(account=acme, object_type="contact").values_list(
            "name", flat=True
        )
    )
    assert {"email", "first_name", "last_name", "state", "lifecycle_stage", "owner"} <= names


def test_a_number_property_rejects_words_with_a_clear_message(acme):
    with pytest.raises(ValidationError) as error:
        services.record_create(
            account=acme, object_type=ObjectType.DEAL, values={"name": "Big", "amount": "abc"}
        )
    assert error.value.message_dict == {
        "amount": ["“abc” is not a number. Use digits with a dot for decimals, e.g. 1250.50."]
    }


@pytest.mark.parametrize(
    "typed,stored", [("1250.50", "1250.5"), ("12,5", "12.5"), (" 3 000 ", "3000"), (7, "7")]
)
def test_numbers_are_normalised(acme, typed, stored):
    deal = services.record_create(
        account=acme, object_type=ObjectType.DEAL, values={"name": "D", "amount": typed}
    )
    assert deal.properties["amount"] == stored


def test_an_enumeration_accepts_its_value_or_label_and_nothing_else(acme):
    person = contact(acme, email="a@example.com", lifecycle_stage="Marketing qualified lead")
    assert person.properties["lifecycle_stage"] == "marketingqualifiedlead"
    with pytest.raises(ValidationError, match="is not an option of Lifecycle stage"):
        contact(acme, email="b@example.com", lifecycle_stage="hot prospect")


def test_emails_are_checked_and_lowercased(acme):
    person = contact(acme, email="Jane.Doe@Example.COM", first_name="Jane")
    assert person.properties["email"] == "jane.doe@example.com"
    assert person.email == "jane.doe@example.com"
    with pytest.raises(ValidationError, match="not a valid email address"):
        contact(acme, email="not-an-email")


def test_dates_booleans_and_owners_are_normalised(acme, rep_user):
    PropertyDefinition.objects.create(
        account=acme, object_type="contact", name="vip", label="VIP", type=PropertyType.BOOLEAN
    )
    PropertyDefinition.objects.create(
        account=acme, object_type="contact", name="met_on", label="Met on", type=PropertyType.DATE
    )
    person = contact(acme, email="c@example.com", vip="yes", met_on="31/03/2026", owner="rep")
    assert person.properties["vip"] is True
    assert person.properties["met_on"] == "2026-03-31"
    assert person.owner == rep_user
    with pytest.raises(ValidationError, match="not a user of this account"):
        contact(acme, email="d@example.com", owner="nobody")


def test_an_update_records_only_real_changes_and_reindexes(acme):
    person = contact(acme, email="e@example.com", first_name="Eve", state="california")
    changes = services.record_update(record=person, values={"state": "CA", "first_name": "Eve"})
    assert changes == {"state": ("california", "CA")}
    assert PropertyValue.objects.get(record=person, property__name="state").text_value == "ca"
    services.record_update(record=person, values={"state": ""})
    person.refresh_from_db()
    assert "state" not in person.properties
    assert not PropertyValue.objects.filter(record=person, property__name="state").exists()


def test_an_unknown_property_is_named(acme):
    with pytest.raises(ValidationError, match="There is no property “favourite_color”"):
        contact(acme, email="f@example.com", favourite_color="blue")


def test_one_accounts_owner_cannot_be_set_on_another(acme, globex_admin):
    with pytest.raises(ValidationError, match="not a user of this account"):
        contact(acme, email="g@example.com", owner=str(globex_admin.pk))
