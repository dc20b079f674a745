"""The record page: inline edit, associations, timeline and notes, isolation."""

import pytest

from crm import services
from crm.models import TimelineEvent
from tests.crm.factories import contact, custom_property, record

pytestmark = pytest.mark.django_db


def test_a_rep_sees_a_contact_with_its_properties_and_timeline(rep_client, acme):
    jane = contact(acme, email="jane@example.com", first_name="Jane", lifecycle_stage="lead")
    response = rep_client.get(f"/objects/contacts/{jane.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "jane@example.com" in html and "Lead" in html
    assert "Record created" in html


def test_another_accounts_record_is_a_404_everywhere(globex_client, acme):
    jane = contact(acme, first_name="Jane")
    company = record(acme, "company", name="Acme Corp")
    base = f"/objects/contacts/{jane.pk}"
    assert globex_client.get(f"{base}/").status_code == 404
    assert globex_client.get(f"/objects/companies/{jane.pk}/").status_code == 404
    assert globex_client.get(f"{base}/properties/first_name/?edit=1").status_code == 404
    assert globex_client.post(f"{base}/properties/first_name/", {"value": "X"}).status_code == 404
    assert globex_client.post(f"{base}/notes/", {"body": "hi"}).status_code == 404
    assert globex_client.get(f"{base}/timeline/").status_code == 404
    assert globex_client.post(f"{base}/associations/", {"other": company.pk}).status_code == 404
    assert globex_client.get(f"{base}/associations/search/?type=companies").status_code == 404
    jane.refresh_from_db()
    assert jane.properties["first_name"] == "Jane"
    assert not TimelineEvent.objects.filter(kind="note").exists()


def test_a_record_of_another_object_type_is_a_404(admin_client, acme):
    jane = contact(acme, first_name="Jane")
    assert admin_client.get(f"/objects/deals/{jane.pk}/").status_code == 404
    assert admin_client.get("/objects/contacts/99999999/").status_code == 404


def test_inline_edit_saves_and_records_the_change(rep_client, acme, rep_user):
    jane = contact(acme, first_name="Jane")
    url = f"/objects/contacts/{jane.pk}/properties/first_name/"
    form = rep_client.get(url + "?edit=1", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="value"' in form and 'value="Jane"' in form
    response = rep_client.post(url, {"value": "Janet"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Janet" in response.content.decode()
    assert "timeline-changed" in response["HX-Trigger"]
    jane.refresh_from_db()
    assert jane.name == "Janet"
    change = jane.timeline.get(kind="property_changed")
    assert change.data["old"] == "Jane" and change.data["new"] == "Janet"
    assert change.actor == rep_user
    timeline = rep_client.get(f"/objects/contacts/{jane.pk}/").content.decode()
    assert 'Jane</span> → <span class="new-value">Janet' in timeline


def test_inline_edit_shows_the_validation_message_inline(rep_client, acme):
    custom_property(acme, "score", "number")
    jane = contact(acme, first_name="Jane", score="3")
    url = f"/objects/contacts/{jane.pk}/properties/score/"
    response = rep_client.post(url, {"value": "abc"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "“abc” is not a number" in html
    assert 'value="abc"' in html  # what was typed stays in the box
    jane.refresh_from_db()
    assert jane.properties["score"] == "3"
    # Without htmx: the whole page with the message, and a 400.
    response = rep_client.post(url, {"value": "abc"})
    assert response.status_code == 400
    assert "is not a number" in response.content.decode()


@pytest.mark.parametrize(
    "value",
    ["x" * 200_000, "\x00", "2026-13-45", "9" * 30],
    ids=["huge", "nul", "bad-date", "huge-number"],
)
def test_inline_edit_survives_hostile_input(rep_client, acme, value):
    custom_property(acme, "renewal", "date")
    jane = contact(acme, first_name="Jane")
    for name in ("first_name", "renewal", "lifecycle_stage", "owner"):
        response = rep_client.post(
            f"/objects/contacts/{jane.pk}/properties/{name}/",
            {"value": value},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200


def test_an_unknown_property_is_a_404(rep_client, acme):
    jane = contact(acme, first_name="Jane")
    assert rep_client.get(f"/objects/contacts/{jane.pk}/properties/nope/").status_code == 404


def test_inline_edit_clears_a_value(rep_client, acme):
    jane = contact(acme, first_name="Jane", lifecycle_stage="lead")
    rep_client.post(
        f"/objects/contacts/{jane.pk}/properties/lifecycle_stage/",
        {"value": ""},
        HTTP_HX_REQUEST="true",
    )
    jane.refresh_from_db()
    assert "lifecycle_stage" not in jane.properties


def test_notes_are_added_to_the_timeline_and_shown_safely(rep_client, acme, rep_user):
    jane = contact(acme, first_name="Jane")
    body = "Called her.\nSee https://example.com/x <script>alert(1)</script>"
    response = rep_client.post(
        f"/objects/contacts/{jane.pk}/notes/", {"body": body}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://example.com/x" rel="nofollow">' in html
    assert "Called her.<br>" in html
    note = jane.timeline.get(kind="note")
    assert note.actor == rep_user and note.data["body"] == body


def test_an_empty_note_is_refused(rep_client, acme):
    jane = contact(acme, first_name="Jane")
    response = rep_client.post(
        f"/objects/contacts/{jane.pk}/notes/", {"body": "  "}, HTTP_HX_REQUEST="true"
    )
    assert "This field is required" in response.content.decode()
    assert not jane.timeline.filter(kind="note").exists()


def test_any_timeline_kind_renders_with_its_data(rep_client, acme):
    jane = contact(acme, first_name="Jane")
    TimelineEvent.objects.create(
        account=acme,
        record=jane,
        kind="workflow",
        data={"workflow": "Qualify <b>visitors</b>", "step": 3},
        source="workflow",
    )
    TimelineEvent.objects.create(
        account=acme, record=jane, kind="form_submitted", data={"form": "Contact us"}, source="form"
    )
    html = rep_client.get(f"/objects/contacts/{jane.pk}/").content.decode()
    assert "Qualify &lt;b&gt;visitors&lt;/b&gt;" in html
    assert "Contact us" in html


def test_associations_are_added_by_search_and_removed(rep_client, acme):
    jane = contact(acme, first_name="Jane")
    northwind = record(acme, "company", name="Northwind", domain="northwind.example")
    record(acme, "company", name="Contoso")
    base = f"/objects/contacts/{jane.pk}/associations/"
    results = rep_client.get(
        base + "search/?type=companies&q=north", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Northwind" in results and "Contoso" not in results
    response = rep_client.post(
        base, {"other": northwind.pk, "action": "add"}, HTTP_HX_REQUEST="true"
    )
    assert "Northwind" in response.content.decode()
    assert list(services.associated_records(jane)) == [northwind]
    assert list(services.associated_records(northwind)) == [jane]
    # Shown on both record pages.
    assert "Jane" in rep_client.get(f"/objects/companies/{northwind.pk}/").content.decode()
    rep_client.post(base, {"other": northwind.pk, "action": "remove"}, HTTP_HX_REQUEST="true")
    assert not services.associated_records(jane).exists()


def test_associating_with_another_accounts_record_is_refused(rep_client, acme, globex):
    jane = contact(acme, first_name="Jane")
    foreign = record(globex, "company", name="Globex Corp")
    response = rep_client.post(
        f"/objects/contacts/{jane.pk}/associations/", {"other": foreign.pk, "action": "add"}
    )
    assert response.status_code == 302
    assert not services.associated_records(jane).exists()
    response = rep_client.post(
        f"/objects/contacts/{jane.pk}/associations/",
        {"other": "'; drop table", "action": "add"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 404


def test_the_record_page_query_count_is_bounded(rep_client, acme, django_assert_max_num_queries):
    jane = contact(acme, first_name="Jane")
    for i in range(5):
        services.record_update(record=jane, values={"first_name": f"Jane{i}"})
        company = record(acme, "company", name=f"C{i}")
        services.association_create(record=jane, other=company)
    rep_client.get(f"/objects/contacts/{jane.pk}/")
    with django_assert_max_num_queries(14):
        rep_client.get(f"/objects/contacts/{jane.pk}/")
