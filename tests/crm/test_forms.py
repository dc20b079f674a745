"""Forms: the builder for super admins and the public page anonymous visitors submit."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from crm.models import (
    Form,
    FormField,
    FormSubmission,
    PropertyDefinition,
    PropertyType,
    Record,
    TimelineEvent,
)
from crm.submissions import RATE_LIMIT
from crm.webforms import form_create


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def contact_form(acme, admin_user) -> Form:
    """ "Contact us": email, first name, and a free-text question saved to the contact."""
    form = form_create(account=acme, name="Contact us", created_by=admin_user)
    first_name = PropertyDefinition.objects.get(
        account=acme, object_type="contact", name="first_name"
    )
    looking_for = PropertyDefinition.objects.create(
        account=acme,
        object_type="contact",
        name="looking_for",
        label="What are you looking for?",
        type=PropertyType.TEXTAREA,
    )
    FormField.objects.create(
        form=form, key="first_name", label="First name", property=first_name, position=1
    )
    FormField.objects.create(
        form=form,
        key="looking_for",
        label="What are you looking for?",
        property=looking_for,
        position=2,
    )
    FormField.objects.create(
        form=form, key="how_did_you_hear", label="How did you hear of us?", position=3
    )
    return form


def public_url(form: Form) -> str:
    return form.get_public_path()


def test_an_anonymous_visitor_sees_the_form_without_logging_in(client, contact_form):
    response = client.get(public_url(contact_form))
    assert response.status_code == 200
    assert b"What are you looking for?" in response.content
    assert b'name="email"' in response.content


def test_a_submission_creates_a_contact_then_a_second_one_updates_it(client, contact_form, acme):
    response = client.post(
        public_url(contact_form),
        {
            "email": "Ana@Example.com",
            "first_name": "Ana",
            "looking_for": "A CRM for 20 people\nwith workflows",
            "how_did_you_hear": "A friend",
        },
    )
    assert response.status_code == 200
    assert b"Thanks for submitting the form" in response.content
    contact = Record.objects.get(account=acme, object_type="contact")
    assert contact.properties == {
        "email": "ana@example.com",
        "first_name": "Ana",
        "looking_for": "A CRM for 20 people\nwith workflows",
    }
    first = FormSubmission.objects.get()
    assert first.record == contact and first.created_contact
    assert first.answers["how_did_you_hear"] == "A friend"
    assert first.ip_address == "127.0.0.1"

    client.post(
        public_url(contact_form),
        {
            "email": "ana@example.com",
            "first_name": "Anabel",
            "looking_for": "Pricing",
        },
    )
    assert Record.objects.filter(account=acme, object_type="contact").count() == 1
    contact.refresh_from_db()
    assert contact.properties["first_name"] == "Anabel"
    assert contact.properties["looking_for"] == "Pricing"
    second = FormSubmission.objects.order_by("-id").first()
    assert second.record == contact and not second.created_contact
    # form_submitted was sent with the submission: the timeline shows both, with answers.
    events = TimelineEvent.objects.filter(record=contact, kind=TimelineEvent.Kind.FORM_SUBMITTED)
    assert events.count() == 2
    latest = events.order_by("-id").first()
    assert latest.source == "form"
    assert latest.data["submission_id"] == second.pk
    assert {"key": "looking_for", "label": "What are you looking for?", "value": "Pricing"} in (
        latest.data["answers"]
    )
    assert TimelineEvent.objects.filter(
        record=contact, kind=TimelineEvent.Kind.PROPERTY_CHANGED, source="form"
    ).exists()


def test_the_form_submitted_signal_carries_the_contact_form_and_submission(client, contact_form):
    from crm.signals import form_submitted

    received = []

    def receiver(sender, record, form, submission, **kwargs):
        received.append((sender, record.properties["email"], form.pk, submission.pk))

    form_submitted.connect(receiver)
    try:
        client.post(public_url(contact_form), {"email": "bo@example.com"})
    finally:
        form_submitted.disconnect(receiver)
    submission = FormSubmission.objects.get()
    assert received == [(Form, "bo@example.com", contact_form.pk, submission.pk)]


def test_an_empty_optional_answer_does_not_clear_the_contact_value(client, contact_form):
    client.post(public_url(contact_form), {"email": "cy@example.com", "first_name": "Cy"})
    client.post(public_url(contact_form), {"email": "cy@example.com", "first_name": ""})
    assert Record.objects.get(email="cy@example.com").properties["first_name"] == "Cy"


def test_invalid_answers_are_shown_next_to_their_field_and_nothing_is_stored(client, contact_form):
    response = client.post(public_url(contact_form), {"email": "bob@", "first_name": "Bob"})
    assert response.status_code == 400
    assert "“bob@” is not a valid email address (expected name@example.com)." in (
        response.content.decode()
    )
    assert response.context["submission_form"].errors["email"]
    assert not Record.objects.exists()
    assert not FormSubmission.objects.exists()


def test_a_missing_required_email_is_refused(client, contact_form):
    response = client.post(public_url(contact_form), {"first_name": "Nobody"})
    assert response.status_code == 400
    assert "email" in response.context["submission_form"].errors
    assert not FormSubmission.objects.exists()


def test_the_honeypot_fools_bots_and_stores_nothing(client, contact_form):
    response = client.post(
        public_url(contact_form),
        {
            "email": "bot@spam.example",
            "website_url": "http://spam.example",
        },
    )
    assert response.status_code == 200
    assert b"Thanks for submitting the form" in response.content
    assert not Record.objects.exists()
    assert not FormSubmission.objects.exists()


def test_too_many_submissions_from_one_ip_get_a_429_page(client, contact_form):
    for n in range(RATE_LIMIT):
        response = client.post(public_url(contact_form), {"email": f"v{n}@example.com"})
        assert response.status_code == 200
    response = client.post(public_url(contact_form), {"email": "one-more@example.com"})
    assert response.status_code == 429
    assert b"Please wait 10 minutes and try again." in response.content
    assert FormSubmission.objects.count() == RATE_LIMIT
    # Another visitor (another IP) is not affected.
    other = client.post(
        public_url(contact_form), {"email": "x@example.com"}, REMOTE_ADDR="203.0.113.9"
    )
    assert other.status_code == 200


def test_a_submission_without_the_csrf_token_is_refused(contact_form):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(public_url(contact_form), {"email": "csrf@example.com"})
    assert response.status_code == 403
    assert not FormSubmission.objects.exists()


def test_a_submission_with_the_csrf_token_from_the_page_is_accepted(contact_form):
    strict = Client(enforce_csrf_checks=True)
    page = strict.get(public_url(contact_form))
    token = page.cookies["csrftoken"].value
    response = strict.post(
        public_url(contact_form),
        {
            "email": "csrf@example.com",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 200
    assert FormSubmission.objects.count() == 1


def test_a_closed_form_says_so_and_accepts_nothing(client, contact_form):
    contact_form.is_active = False
    contact_form.save()
    response = client.post(public_url(contact_form), {"email": "late@example.com"})
    assert response.status_code == 410
    assert not FormSubmission.objects.exists()


def test_an_unknown_form_key_is_404(client, db):
    response = client.get("/f/7b0c0d7e-0000-4000-8000-000000000000/")
    assert response.status_code == 404


# --- Builder ------------------------------------------------------------------------


def test_a_super_admin_creates_a_form_that_asks_for_the_email(admin_client, acme):
    response = admin_client.post(reverse("intake:form_list"), {"name": "Demo request"})
    form = Form.objects.get(account=acme)
    assert response.status_code == 302
    assert response["Location"] == reverse("intake:form_edit", args=[form.pk])
    field = form.fields.get()
    assert field.key == "email" and field.required and field.property.name == "email"


def test_a_free_text_question_can_create_a_multi_line_contact_property(
    admin_client, acme, contact_form
):
    edit = reverse("intake:form_edit", args=[contact_form.pk])
    response = admin_client.post(
        edit,
        {
            "add_field": "",
            "source": "__new__",
            "label": "Your budget, in words",
            "required": "on",
        },
    )
    assert response.status_code == 302
    definition = PropertyDefinition.objects.get(account=acme, name="your_budget_in_words")
    assert definition.type == PropertyType.TEXTAREA and definition.object_type == "contact"
    field = contact_form.fields.get(key="your_budget_in_words")
    assert field.property == definition and field.required


def test_a_property_question_is_added_with_its_label(admin_client, acme, contact_form):
    phone = PropertyDefinition.objects.get(account=acme, object_type="contact", name="phone")
    admin_client.post(
        reverse("intake:form_edit", args=[contact_form.pk]),
        {"add_field": "", "source": str(phone.pk), "label": ""},
    )
    assert contact_form.fields.get(key="phone").label == "Phone number"


def test_the_email_question_cannot_be_removed(admin_client, contact_form):
    email = contact_form.fields.get(key="email")
    admin_client.post(
        reverse("intake:form_edit", args=[contact_form.pk]),
        {"remove_field": "", "field": str(email.pk)},
    )
    assert contact_form.fields.filter(key="email").exists()


def test_the_email_question_stays_required(admin_client, contact_form):
    email = contact_form.fields.get(key="email")
    admin_client.post(
        reverse("intake:form_edit", args=[contact_form.pk]),
        {"toggle_required": "", "field": str(email.pk)},
    )
    email.refresh_from_db()
    assert email.required


def test_a_free_text_question_cannot_reuse_a_property_of_another_type(admin_client, contact_form):
    response = admin_client.post(
        reverse("intake:form_edit", args=[contact_form.pk]),
        {"add_field": "", "source": "__new__", "label": "Job title"},
    )
    assert response.status_code == 200
    assert "A contact property “Job title” already exists and is not multi-line text." in (
        response.content.decode()
    )
    assert not contact_form.fields.filter(key="job_title").exists()


def test_questions_can_be_reordered_and_removed(admin_client, contact_form):
    edit = reverse("intake:form_edit", args=[contact_form.pk])
    free = contact_form.fields.get(key="how_did_you_hear")
    admin_client.post(edit, {"move_up": "", "field": str(free.pk)})
    keys = list(contact_form.fields.order_by("position").values_list("key", flat=True))
    assert keys == ["email", "first_name", "how_did_you_hear", "looking_for"]
    admin_client.post(edit, {"remove_field": "", "field": str(free.pk)})
    assert not contact_form.fields.filter(key="how_did_you_hear").exists()


def test_the_thank_you_message_is_configurable(admin_client, client, contact_form):
    admin_client.post(
        reverse("intake:form_edit", args=[contact_form.pk]),
        {
            "save_settings": "",
            "name": "Contact us",
            "title": "",
            "introduction": "",
            "submit_label": "Send",
            "thank_you_message": "Merci ! We call you within a day.",
            "is_active": "on",
            "submissions_per_hour": "100",
        },
    )
    response = client.post(public_url(contact_form), {"email": "dee@example.com"})
    assert "Merci ! We call you within a day." in response.content.decode()


def test_admins_see_the_submissions_of_a_form(admin_client, client, contact_form):
    client.post(
        public_url(contact_form), {"email": "eve@example.com", "how_did_you_hear": "Podcast"}
    )
    response = admin_client.get(reverse("intake:form_submissions", args=[contact_form.pk]))
    assert response.status_code == 200
    assert b"eve@example.com" in response.content
    assert b"Podcast" in response.content


def test_sales_reps_cannot_manage_forms(rep_client, contact_form):
    for url in (
        reverse("intake:form_list"),
        reverse("intake:form_edit", args=[contact_form.pk]),
        reverse("intake:form_submissions", args=[contact_form.pk]),
    ):
        response = rep_client.get(url)
        assert response.status_code == 403
        assert b"Only super admins can manage forms." in response.content


def test_another_accounts_form_is_404_in_the_builder(globex_client, contact_form):
    response = globex_client.get(reverse("intake:form_edit", args=[contact_form.pk]))
    assert response.status_code == 404
    response = globex_client.get(reverse("intake:form_submissions", args=[contact_form.pk]))
    assert response.status_code == 404


def test_the_form_list_shows_only_the_accounts_forms(globex_client, admin_client, contact_form):
    edit = reverse("intake:form_edit", args=[contact_form.pk]).encode()
    assert edit in admin_client.get(reverse("intake:form_list")).content
    assert edit not in globex_client.get(reverse("intake:form_list")).content
