"""Settings > Properties: super admins create, edit and delete custom properties."""

import pytest

from crm.models import PropertyDefinition, PropertyValue
from tests.crm.factories import contact, custom_property

pytestmark = pytest.mark.django_db


def test_only_super_admins_manage_properties(rep_client, builder_client, admin_client):
    assert rep_client.get("/settings/properties/").status_code == 403
    assert (
        builder_client.post("/settings/properties/new/", {"label": "X", "type": "text"}).status_code
        == 403
    )
    assert admin_client.get("/settings/properties/?object=deals").status_code == 200


def test_the_list_shows_standard_and_custom_properties_per_object(admin_client, acme):
    custom_property(acme, "nps", "number", object_type="deal", label="NPS")
    html = admin_client.get("/settings/properties/?object=deals").content.decode()
    assert "Deal stage" in html and "NPS" in html and "Email" not in html


def test_it_creates_a_dropdown_from_its_label_and_options(admin_client, acme):
    response = admin_client.post(
        "/settings/properties/new/",
        {
            "object": "contacts",
            "label": "Preferred channel",
            "type": "enumeration",
            "options": "Email\nphone_call | Phone call\n",
        },
    )
    assert response.status_code == 302
    definition = PropertyDefinition.objects.get(account=acme, name="preferred_channel")
    assert definition.options == [
        {"value": "email", "label": "Email"},
        {"value": "phone_call", "label": "Phone call"},
    ]
    assert not definition.is_standard
    # Usable at once: the list filters by it.
    contact(acme, first_name="Jane", preferred_channel="Phone call")
    assert (
        admin_client.get(
            '/objects/contacts/?filters=[[{"property":"preferred_channel",'
            '"operator":"eq_any","values":["phone_call"]}]]'
        )
        .context["page"]
        .total
        == 1
    )


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"label": "Email", "type": "text"}, "name", "already exists"),
        (
            {"label": "Score", "name": "9lives", "type": "number"},
            "name",
            "must start with a letter",
        ),
        ({"label": "Tier", "type": "enumeration", "options": ""}, "options", "at least one option"),
        ({"label": "Tier", "type": "enumeration", "options": "Gold\ngold"}, "options", "twice"),
        ({"label": "Owner 2", "type": "owner"}, "type", "not one of the available choices"),
        ({"label": "x" * 300, "type": "text"}, "label", "at most 200"),
    ],
)
def test_bad_definitions_are_refused_with_a_clear_message(admin_client, acme, data, field, message):
    response = admin_client.post("/settings/properties/new/", {"object": "contacts", **data})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])


def test_it_edits_the_label_and_options_but_not_the_name(admin_client, acme):
    definition = custom_property(
        acme, "tier", "enumeration", options=[{"value": "gold", "label": "Gold"}]
    )
    response = admin_client.post(
        f"/settings/properties/{definition.pk}/",
        {"label": "Customer tier", "name": "hacked", "options": "gold | Gold\nsilver | Silver"},
    )
    assert response.status_code == 302
    definition.refresh_from_db()
    assert definition.label == "Customer tier" and definition.name == "tier"
    assert [o["value"] for o in definition.options] == ["gold", "silver"]


def test_an_option_in_use_cannot_be_removed(admin_client, acme):
    definition = custom_property(
        acme,
        "tier",
        "enumeration",
        options=[{"value": "gold", "label": "Gold"}, {"value": "silver", "label": "Silver"}],
    )
    contact(acme, first_name="Jane", tier="gold")
    response = admin_client.post(
        f"/settings/properties/{definition.pk}/", {"label": "Tier", "options": "silver | Silver"}
    )
    assert response.status_code == 400
    assert "still use an option you removed (Gold)" in response.content.decode()


def test_deleting_a_custom_property_asks_then_removes_its_values(admin_client, acme):
    definition = custom_property(acme, "score", "number")
    jane = contact(acme, first_name="Jane", score="7")
    page = admin_client.get(f"/settings/properties/{definition.pk}/delete/").content.decode()
    assert "1 record has a value for it" in page
    response = admin_client.post(f"/settings/properties/{definition.pk}/delete/")
    assert response.status_code == 302
    assert not PropertyDefinition.objects.filter(pk=definition.pk).exists()
    assert not PropertyValue.objects.filter(record=jane, property_id=definition.pk).exists()
    jane.refresh_from_db()
    assert "score" not in jane.properties and jane.properties["first_name"] == "Jane"


def test_standard_properties_cannot_be_deleted(admin_client, acme):
    email = PropertyDefinition.objects.get(account=acme, object_type="contact", name="email")
    admin_client.post(f"/settings/properties/{email.pk}/delete/")
    assert PropertyDefinition.objects.filter(pk=email.pk).exists()


def test_another_accounts_property_is_a_404(globex_client, acme):
    definition = custom_property(acme, "score", "number")
    assert globex_client.get(f"/settings/properties/{definition.pk}/").status_code == 404
    assert globex_client.post(f"/settings/properties/{definition.pk}/delete/").status_code == 404
    assert PropertyDefinition.objects.filter(pk=definition.pk).exists()
