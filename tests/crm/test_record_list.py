"""The record list: search, filters, sort by any property, keyset pages, bulk actions."""

import json

import pytest

from crm.models import Record
from tests.crm.factories import contact, custom_property

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return [row["record"].name for row in response.context["rows"]]


def test_it_lists_the_accounts_contacts(admin_client, acme, admin_user):
    contact(acme, email="jane@example.com", first_name="Jane", last_name="Doe")
    response = admin_client.get("/objects/contacts/")
    assert response.status_code == 200
    assert names(response) == ["Jane Doe"]
    assert b"jane@example.com" in response.content
