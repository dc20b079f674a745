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


def test_it_searches_by_name_and_email(admin_client, acme):
    contact(acme, email="jane@northwind.example", first_name="Jane")
    contact(acme, email="bob@contoso.example", first_name="Bob")
    assert names(admin_client.get("/objects/contacts/?q=northwind")) == ["Jane"]
    assert names(admin_client.get("/objects/contacts/?q=BOB")) == ["Bob"]


def test_it_filters_with_the_add_filter_form(admin_client, acme):
    contact(acme, first_name="Lead", lifecycle_stage="lead")
    contact(acme, first_name="Customer", lifecycle_stage="customer")
    contact(acme, first_name="Unknown")
    response = admin_client.get(
        "/objects/contacts/",
        {
            "add_property": "lifecycle_stage",
            "add_operator": "eq_any",
            "add_values": ["customer", "lead"],
        },
    )
    assert sorted(names(response)) == ["Customer", "Lead"]
    chip = response.context["chips"][0][0]
    assert chip["label"] == "Lifecycle stage"
    assert "Customer" in chip["values"]
    # The chip's remove link shows everything again.
    assert len(names(admin_client.get(chip["remove_url"]))) == 3


def test_it_adds_a_condition_to_the_existing_filters(admin_client, acme):
    contact(acme, first_name="Ann", lifecycle_stage="lead", state="Texas")
    contact(acme, first_name="Ben", lifecycle_stage="lead")
    filters = json.dumps(
        [[{"property": "lifecycle_stage", "operator": "eq_any", "values": ["lead"]}]]
    )
    response = admin_client.get(
        "/objects/contacts/",
        {
            "filters": filters,
            "add_property": "state",
            "add_operator": "is_known",
        },
    )
    assert names(response) == ["Ann"]
    assert len(json.loads(response.context["filters_param"])[0]) == 2


def test_it_filters_by_a_custom_number_property_with_or_groups(admin_client, acme):
    custom_property(acme, "score", "number")
    contact(acme, first_name="High", score="90")
    contact(acme, first_name="Low", score="10")
    contact(acme, first_name="Texan", state="TX")
    filters = json.dumps(
        [
            [{"property": "score", "operator": "gt", "value": "50"}],
            [{"property": "state", "operator": "eq_any", "values": ["tx"]}],
        ]
    )
    assert sorted(names(admin_client.get("/objects/contacts/", {"filters": filters}))) == [
        "High",
        "Texan",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"filters": "not json"},
        {"filters": json.dumps({"a": 1})},
        {"filters": json.dumps([[{"property": "nope", "operator": "eq_any", "values": ["x"]}]])},
        {"filters": json.dumps([[{"property": "email", "operator": "gt", "value": "x"}]])},
        {"add_property": "lifecycle_stage", "add_operator": "eq_any", "add_values": "martian"},
        {"add_property": "email", "add_operator": "contains"},
        {"sort": "-" + "x" * 5000},
        {"after": "%%%garbage"},
        {"before": "WyJhIiwxLDJd"},
        {"size": "1000000"},
        {"q": "x" * 100_000},
    ],
)
def test_bad_list_parameters_show_a_message_not_an_error(admin_client, acme, params):
    contact(acme, first_name="Jane")
    response = admin_client.get("/objects/contacts/", params)
    assert response.status_code == 200


def test_a_bad_filter_explains_itself(admin_client, acme):
    response = admin_client.get(
        "/objects/contacts/",
        {"add_property": "lifecycle_stage", "add_operator": "eq_any", "add_values": "martian"},
    )
    assert "is not an option of Lifecycle stage" in response.context["filter_error"]


def test_it_sorts_by_a_custom_property_with_empty_values_last(admin_client, acme):
    custom_property(acme, "score", "number")
    for name, score in [("B", "20"), ("None1", None), ("A", "5"), ("C", "300"), ("None2", None)]:
        contact(acme, first_name=name, **({"score": score} if score else {}))
    assert names(admin_client.get("/objects/contacts/?sort=score")) == [
        "A",
        "B",
        "C",
        "None1",
        "None2",
    ]
    assert names(admin_client.get("/objects/contacts/?sort=-score")) == [
        "C",
        "B",
        "A",
        "None2",
        "None1",
    ]


def test_it_sorts_by_name_and_by_an_enumeration(admin_client, acme):
    contact(acme, first_name="Zoe", lifecycle_stage="lead")
    contact(acme, first_name="Adam", lifecycle_stage="customer")
    assert names(admin_client.get("/objects/contacts/?sort=name")) == ["Adam", "Zoe"]
    assert names(admin_client.get("/objects/contacts/?sort=-lifecycle_stage")) == ["Zoe", "Adam"]


def walk(client, url: str) -> list[list[str]]:
    pages = []
    response = client.get(url)
    while True:
        pages.append(names(response))
        if not response.context["page"].has_next:
            return pages
        response = client.get(response.context["next_url"])


@pytest.mark.parametrize("sort", ["", "created", "-name", "score", "-score", "lifecycle_stage"])
def test_keyset_pages_cover_every_record_once_in_order(admin_client, acme, sort):
    custom_property(acme, "score", "number")
    for i in range(57):
        values = {"first_name": f"P{i:02d}", "lifecycle_stage": ["lead", "customer"][i % 2]}
        if i % 3:
            values["score"] = str(i % 7)  # ties and missing values on purpose
        contact(acme, **values)
    all_at_once = names(admin_client.get(f"/objects/contacts/?sort={sort}&size=100"))
    pages = walk(admin_client, f"/objects/contacts/?sort={sort}")
    assert [len(p) for p in pages] == [25, 25, 7]
    assert [n for p in pages for n in p] == all_at_once
    assert len(set(all_at_once)) == 57
    # Backwards: "previous" from the last page gives the middle page again.
    last = admin_client.get(f"/objects/contacts/?sort={sort}&last=1")
    assert names(last) == all_at_once[-25:]
    assert last.context["page"].has_previous and not last.context["page"].has_next
    previous = admin_client.get(last.context["previous_url"])
    assert names(previous) == all_at_once[-50:-25]
    assert previous.context["page"].has_next


def test_the_list_query_count_does_not_grow_with_the_page_size(
    admin_client, acme, admin_user, django_assert_max_num_queries, django_assert_num_queries
):
    custom_property(acme, "score", "number")
    for i in range(120):
        contact(
            acme, first_name=f"P{i}", score=str(i), owner=str(admin_user.pk), lifecycle_stage="lead"
        )
    admin_client.get("/objects/contacts/")  # warm the session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(f"/objects/contacts/?size={size}&sort=score")
        assert len(response.context["rows"]) == size
        # The idle timeout refreshes the session now and then: not the list's queries.
        counts[size] = len([q for q in queries if "django_session" not in q["sql"]])
    assert counts[25] == counts[100]
    with django_assert_max_num_queries(10):
        admin_client.get("/objects/contacts/?size=100&sort=-score&last=1")


def test_another_accounts_records_never_show(globex_client, acme, globex):
    contact(acme, first_name="Secret", email="secret@acme.example")
    response = globex_client.get("/objects/contacts/?q=secret")
    assert names(response) == []
    assert b"secret@acme.example" not in response.content


def test_an_unknown_object_is_a_404(admin_client):
    assert admin_client.get("/objects/unicorns/").status_code == 404


def test_htmx_gets_only_the_table(admin_client, acme):
    contact(acme, first_name="Jane")
    response = admin_client.get("/objects/contacts/?sort=name", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="table"')
    assert "<html" not in html
    assert 'href="/objects/contacts/?sort=-name"' in html


def test_the_filter_editor_offers_operators_by_type(admin_client, acme):
    custom_property(acme, "score", "number")
    html = admin_client.get(
        "/objects/contacts/filter-fields/?add_property=score", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "is greater than" in html and "contains" not in html
    html = admin_client.get(
        "/objects/contacts/filter-fields/?add_property=lifecycle_stage", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Marketing qualified lead" in html


def test_it_creates_a_contact_from_the_dialog(rep_client, acme):
    response = rep_client.post(
        "/objects/contacts/new/",
        {"email": "NEW@Example.com", "first_name": "New", "lifecycle_stage": "lead"},
    )
    record = Record.objects.get(account=acme, email="new@example.com")
    assert response.status_code == 302
    assert response["Location"] == f"/objects/contacts/{record.pk}/"


def test_create_shows_validation_messages_per_field(rep_client, acme):
    response = rep_client.post(
        "/objects/contacts/new/", {"email": "not-an-email"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "is not a valid email address" in response.content.decode()
    assert not Record.objects.filter(account=acme).exists()


def test_bulk_delete_asks_for_confirmation_first(admin_client, acme):
    keep = contact(acme, first_name="Keep")
    gone = [contact(acme, first_name=f"Gone{i}") for i in range(2)]
    ids = [r.pk for r in gone]
    response = admin_client.post("/objects/contacts/bulk/", {"ids": ids, "action": "delete"})
    assert response.status_code == 200
    assert "Delete 2 records?" in response.content.decode()
    assert Record.objects.filter(account=acme).count() == 3
    response = admin_client.post(
        "/objects/contacts/bulk/", {"ids": ids, "action": "delete", "confirm": "yes"}
    )
    assert response.status_code == 302
    assert list(Record.objects.filter(account=acme)) == [keep]


def test_bulk_edit_sets_a_property_through_the_services(admin_client, acme):
    records = [contact(acme, first_name=f"C{i}") for i in range(3)]
    response = admin_client.post(
        "/objects/contacts/bulk/",
        {
            "ids": [r.pk for r in records],
            "action": "edit",
            "property": "lead_status",
            "value": "Connected",
            "confirm": "yes",
        },
    )
    assert response.status_code == 302
    for record in records:
        record.refresh_from_db()
        assert record.properties["lead_status"] == "connected"
        assert record.timeline.filter(kind="property_changed").exists()


def test_bulk_edit_with_a_bad_value_changes_nothing(admin_client, acme):
    record = contact(acme, first_name="C")
    admin_client.post(
        "/objects/contacts/bulk/",
        {
            "ids": [record.pk],
            "action": "edit",
            "property": "lead_status",
            "value": "nope",
            "confirm": "yes",
        },
    )
    record.refresh_from_db()
    assert "lead_status" not in record.properties


def test_bulk_actions_ignore_another_accounts_ids(globex_client, acme):
    record = contact(acme, first_name="Mine")
    globex_client.post(
        "/objects/contacts/bulk/",
        {"ids": [record.pk, "abc", "-1"], "action": "delete", "confirm": "yes"},
    )
    assert Record.objects.filter(pk=record.pk).exists()
