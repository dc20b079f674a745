"""The JSON API: bearer tokens, records, search, properties, form submissions."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from crm import services
from crm.models import ApiToken, FormSubmission, Record, TimelineEvent
from crm.models.api import token_hash
from crm.webforms import form_create


@pytest.fixture
def token(acme, admin_user) -> str:
    _row, plaintext = ApiToken.issue(account=acme, name="Tests", created_by=admin_user)
    return plaintext


@pytest.fixture
def api(token):
    return ApiClient(token)


class ApiClient:
    def __init__(self, token: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path):
        return self.client.get(f"/api/v1{path}", headers=self.headers)

    def post(self, path, body):
        return self.client.post(
            f"/api/v1{path}",
            json.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )

    def patch(self, path, body):
        return self.client.patch(
            f"/api/v1{path}",
            json.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )


def test_a_request_without_a_token_is_401(db):
    response = ApiClient(None).get("/properties/contacts")
    assert response.status_code == 401


def test_an_unknown_token_is_401(db):
    assert ApiClient("crm_not-a-real-token").get("/properties/contacts").status_code == 401


def test_a_revoked_token_is_401(acme, api, token):
    assert api.get("/properties/contacts").status_code == 200
    ApiToken.objects.get(token_hash=token_hash(token)).revoke()
    assert api.get("/properties/contacts").status_code == 401


def test_tokens_are_stored_hashed_never_in_plaintext(token):
    row = ApiToken.objects.get()
    assert row.token_hash == token_hash(token) and len(row.token_hash) == 64
    for field in ApiToken._meta.concrete_fields:
        value = getattr(row, field.attname)
        assert token not in str(value)
    assert len(token) > 40  # 256 bits of randomness


def test_a_record_is_created_through_the_services_and_announced(api, acme, admin_user):
    response = api.post(
        "/objects/contacts", {"properties": {"email": "Ana@Example.com", "first_name": "Ana"}}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["properties"] == {"email": "ana@example.com", "first_name": "Ana"}
    record = Record.objects.get(pk=body["id"], account=acme)
    created = TimelineEvent.objects.get(record=record, kind=TimelineEvent.Kind.CREATED)
    assert (created.source, created.actor) == ("api", admin_user)


def test_validation_errors_are_400_with_the_ui_messages(api):
    response = api.post(
        "/objects/deals", {"properties": {"name": "Big", "amount": "abc", "nope": 1}}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "amount": ["“abc” is not a number. Use digits with a dot for decimals, e.g. 1250.50."],
        "nope": ["There is no property “nope”."],
    }


def test_a_body_that_does_not_match_the_schema_is_422(api):
    assert api.post("/objects/contacts", {"props": {}}).status_code == 422
    assert api.post("/objects/widgets", {"properties": {}}).status_code == 422


def test_text_with_a_nul_character_is_refused_not_a_crash(api):
    response = api.post("/objects/contacts", {"properties": {"first_name": "A\x00B"}})
    assert response.status_code == 400


def test_a_record_is_read_and_updated(api, acme):
    record = services.record_create(
        account=acme, object_type="contact", values={"email": "bo@example.com", "first_name": "Bo"}
    )
    assert api.get(f"/objects/contacts/{record.pk}").json()["properties"]["first_name"] == "Bo"
    response = api.patch(f"/objects/contacts/{record.pk}", {"properties": {"job_title": "CTO"}})
    assert response.status_code == 200
    assert response.json()["properties"] == {
        "email": "bo@example.com",
        "first_name": "Bo",
        "job_title": "CTO",
    }
    assert (
        TimelineEvent.objects.filter(record=record, kind="property_changed", source="api").count()
        == 1
    )
    response = api.patch(f"/objects/contacts/{record.pk}", {"properties": {"email": "bo@"}})
    assert response.status_code == 400
    assert "not a valid email address" in response.json()["errors"]["email"][0]


def test_another_accounts_record_is_404(api, globex):
    other = services.record_create(
        account=globex, object_type="contact", values={"email": "secret@globex.example"}
    )
    assert api.get(f"/objects/contacts/{other.pk}").status_code == 404
    assert (
        api.patch(f"/objects/contacts/{other.pk}", {"properties": {"first_name": "X"}}).status_code
        == 404
    )
    results = api.post("/objects/contacts/search", {}).json()["results"]
    assert other.pk not in [r["id"] for r in results]


def test_the_token_decides_the_account_even_with_another_accounts_session(
    token, acme, globex, globex_admin
):
    ours = services.record_create(
        account=acme, object_type="contact", values={"email": "ours@example.com"}
    )
    theirs = services.record_create(
        account=globex, object_type="contact", values={"email": "theirs@globex.example"}
    )
    api = ApiClient(token)
    api.client.force_login(globex_admin)  # a browser logged in to Globex sends its cookie too
    assert api.get(f"/objects/contacts/{ours.pk}").status_code == 200
    assert api.get(f"/objects/contacts/{theirs.pk}").status_code == 404


def test_a_record_of_another_object_type_is_404(api, acme):
    company = services.record_create(account=acme, object_type="company", values={"name": "A"})
    assert api.get(f"/objects/contacts/{company.pk}").status_code == 404


def test_search_filters_and_pages(api, acme):
    for n in range(5):
        services.record_create(
            account=acme,
            object_type="contact",
            values={"email": f"c{n}@example.com", "state": "CA" if n % 2 == 0 else "NY"},
        )
    filters = [[{"property": "state", "operator": "eq_any", "values": ["CA"]}]]
    page1 = api.post("/objects/contacts/search", {"filters": filters, "limit": 2}).json()
    assert [r["properties"]["email"] for r in page1["results"]] == [
        "c0@example.com",
        "c2@example.com",
    ]
    page2 = api.post(
        "/objects/contacts/search", {"filters": filters, "limit": 2, "after": page1["next_after"]}
    ).json()
    assert [r["properties"]["email"] for r in page2["results"]] == ["c4@example.com"]
    assert page2["next_after"] is None


def test_search_with_bad_filters_is_400_with_a_message(api):
    response = api.post(
        "/objects/contacts/search", {"filters": [[{"property": "nope", "operator": "is_known"}]]}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"filters": ["There is no property “nope”."]}


def test_properties_are_listed(api):
    names = [p["name"] for p in api.get("/properties/contacts").json()]
    assert names[0] == "email" and "lifecycle_stage" in names


def test_a_form_is_submitted_through_the_api_like_the_public_page(api, acme, admin_user):
    form = form_create(account=acme, name="Demo", created_by=admin_user)
    listed = api.get("/forms").json()
    assert listed[0]["fields"][0] == {
        "key": "email",
        "label": "Email",
        "required": True,
        "property": "email",
    }
    response = api.post(f"/forms/{form.pk}/submissions", {"answers": {"email": "Eve@Example.com"}})
    assert response.status_code == 201
    body = response.json()
    assert body["created_contact"] is True
    submission = FormSubmission.objects.get(pk=body["id"])
    assert submission.source == "api" and submission.record.email == "eve@example.com"
    assert TimelineEvent.objects.filter(record=submission.record, kind="form_submitted").exists()
    bad = api.post(f"/forms/{form.pk}/submissions", {"answers": {"email": "eve@"}})
    assert bad.status_code == 400
    assert "not a valid email address" in bad.json()["errors"]["email"][0]


def test_another_accounts_form_is_404_through_the_api(api, globex, globex_admin):
    form = form_create(account=globex, name="Theirs", created_by=globex_admin)
    response = api.post(f"/forms/{form.pk}/submissions", {"answers": {"email": "a@example.com"}})
    assert response.status_code == 404


def test_the_openapi_schema_is_served_without_a_token(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/objects/{object_type}/search" in schema["paths"]
    assert "BearerToken" in schema["components"]["securitySchemes"]


# --- Settings > API tokens ----------------------------------------------------------


def test_a_super_admin_creates_a_token_shown_once(admin_client, acme):
    response = admin_client.post(reverse("intake:api_tokens"), {"create": "", "name": "Website"})
    plaintext = response.context["new_token"]
    assert plaintext.startswith("crm_") and plaintext.encode() in response.content
    assert ApiToken.objects.authenticate(plaintext).account == acme
    again = admin_client.get(reverse("intake:api_tokens"))
    assert plaintext.encode() not in again.content
    assert b"Website" in again.content


def test_a_super_admin_revokes_a_token(admin_client, token):
    row = ApiToken.objects.get()
    admin_client.post(reverse("intake:api_tokens"), {"revoke": "", "token": str(row.pk)})
    row.refresh_from_db()
    assert row.is_revoked
    assert ApiClient(token).get("/properties/contacts").status_code == 401


def test_another_accounts_token_cannot_be_revoked(globex_client, token):
    row = ApiToken.objects.get()
    response = globex_client.post(
        reverse("intake:api_tokens"), {"revoke": "", "token": str(row.pk)}
    )
    assert response.status_code == 404
    row.refresh_from_db()
    assert not row.is_revoked


def test_revoking_a_token_id_that_is_not_a_number_is_404(admin_client, token):
    response = admin_client.post(reverse("intake:api_tokens"), {"revoke": "", "token": "1 or 1"})
    assert response.status_code == 404
    assert not ApiToken.objects.get().is_revoked


def test_sales_reps_cannot_manage_tokens(rep_client):
    response = rep_client.get(reverse("intake:api_tokens"))
    assert response.status_code == 403
    assert b"Only super admins can manage API tokens." in response.content
