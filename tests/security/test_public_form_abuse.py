"""Public forms against abuse of the paid path: a cap per form and hour from all
addresses together, the optional anti-spam puzzle (proof of work), and the cap on the
characters of a visitor's answer that reach an AI prompt."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import proof_of_work
from crm.models import Form, FormSubmission, PropertyDefinition, Record
from crm.services import definitions_for
from marketplace.integrations.openai.listing import ACTION_KEY
from tests.accessibility import close_checked, csp_watched_context
from tests.crm.test_forms import contact_form, fresh_rate_limits  # noqa: F401  (fixtures)
from workflows import registry
from workflows.tokens import TokenResolver


def post_from(client, form: Form, address: str, data: dict):
    return client.post(form.get_public_path(), data, REMOTE_ADDR=address)


def test_a_form_over_its_hourly_cap_refuses_every_address(client, contact_form):
    contact_form.submissions_per_hour = 3
    contact_form.save()
    for n in range(3):
        response = post_from(client, contact_form, f"203.0.113.{n}", {"email": f"v{n}@ex.com"})
        assert response.status_code == 200
    response = post_from(client, contact_form, "198.51.100.7", {"email": "late@ex.com"})

    assert response.status_code == 429
    assert "too many submissions in the last hour" in response.content.decode()
    assert FormSubmission.objects.count() == 3


def test_refused_answers_do_not_count_against_the_hourly_cap(client, contact_form):
    contact_form.submissions_per_hour = 1
    contact_form.save()
    assert post_from(client, contact_form, "203.0.113.1", {"email": "bob@"}).status_code == 400
    response = post_from(client, contact_form, "203.0.113.2", {"email": "bob@ex.com"})
    assert response.status_code == 200


def test_a_super_admin_sets_the_cap_and_the_puzzle(admin_client, contact_form):
    page = admin_client.get(reverse("intake:form_edit", args=[contact_form.pk])).content.decode()
    assert "Submissions accepted per hour" in page and "Anti-spam puzzle" in page
    admin_client.post(
        reverse("intake:form_edit", args=[contact_form.pk]),
        {
            "save_settings": "",
            "name": "Contact us",
            "submit_label": "Send",
            "thank_you_message": "Thanks.",
            "is_active": "on",
            "submissions_per_hour": "20",
            "proof_of_work": "on",
        },
    )
    contact_form.refresh_from_db()
    assert (contact_form.submissions_per_hour, contact_form.proof_of_work) == (20, True)


# --- The anti-spam puzzle -------------------------------------------------------------


def solve(challenge: str, bits: int) -> str:
    counter = 0
    while proof_of_work.leading_zero_bits(f"{challenge}:{counter}") < bits:
        counter += 1
    return str(counter)


@pytest.fixture
def puzzle_form(contact_form, settings):
    settings.PUBLIC_FORM_PROOF_OF_WORK_BITS = 8
    contact_form.proof_of_work = True
    contact_form.save()
    return contact_form


def challenge_from(client, form: Form) -> str:
    html = client.get(form.get_public_path()).content.decode()
    assert 'data-proof-of-work="8"' in html and "js/proof_of_work.js" in html
    return html.split('name="pow_challenge" value="', 1)[1].split('"', 1)[0]


def test_a_solved_puzzle_is_accepted_once(client, puzzle_form):
    challenge = challenge_from(client, puzzle_form)
    answers = {
        "email": "ann@ex.com",
        "pow_challenge": challenge,
        "pow_counter": solve(challenge, 8),
    }

    assert client.post(puzzle_form.get_public_path(), answers).status_code == 200
    replay = client.post(puzzle_form.get_public_path(), answers)

    assert replay.status_code == 400
    assert (
        "This form was already sent. Reload the page to send it again." in replay.content.decode()
    )
    assert FormSubmission.objects.count() == 1


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("no-counter", "The anti-spam check did not finish."),
        ("wrong-counter", "The anti-spam check did not finish."),
        ("no-challenge", "this form needs JavaScript"),
        ("forged", "this form needs JavaScript"),
    ],
)
def test_a_missing_or_wrong_solution_is_refused_with_a_message(
    client, puzzle_form, tamper, message
):
    challenge = challenge_from(client, puzzle_form)
    counter = solve(challenge, 8)
    data = {"email": "ann@ex.com", "pow_challenge": challenge, "pow_counter": counter}
    if tamper == "no-counter":
        data["pow_counter"] = ""
    elif tamper == "wrong-counter":
        data["pow_counter"] = next(
            str(n) for n in range(1000) if proof_of_work.leading_zero_bits(f"{challenge}:{n}") < 8
        )
    elif tamper == "no-challenge":
        del data["pow_challenge"]
    else:  # a challenge made up by a bot, solved
        data["pow_challenge"] = "made-up"
        data["pow_counter"] = solve("made-up", 8)

    response = client.post(puzzle_form.get_public_path(), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Record.objects.exists()


def test_a_challenge_of_another_form_is_refused(client, puzzle_form, acme, admin_user):
    from crm.webforms import form_create

    other = form_create(account=acme, name="Other", created_by=admin_user)
    foreign = proof_of_work.challenge_issue(form_id=other.pk)["challenge"]
    data = {"email": "ann@ex.com", "pow_challenge": foreign, "pow_counter": solve(foreign, 8)}
    response = client.post(puzzle_form.get_public_path(), data)
    assert response.status_code == 400
    assert not FormSubmission.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_visitors_browser_solves_the_puzzle_and_the_form_is_sent(
    browser, live_server, contact_form, settings
):
    settings.PUBLIC_FORM_PROOF_OF_WORK_BITS = 16  # the default: real work for the script
    contact_form.proof_of_work = True
    contact_form.save()
    context = csp_watched_context(browser, base_url=live_server.url, locale="en-US")
    visitor = context.new_page()
    visitor.set_default_timeout(30_000)
    try:
        visitor.goto(contact_form.get_public_path())
        visitor.get_by_label("Email").fill("pat@example.com")
        visitor.get_by_role("button", name="Submit").click()
        visitor.get_by_text("Thanks for submitting the form").wait_for()
    finally:
        close_checked(context)
    submission = FormSubmission.objects.get()
    assert submission.record.email == "pat@example.com"


# --- The prompt cap -------------------------------------------------------------------


def test_a_long_answer_reaches_the_prompt_cut_to_the_setting(client, contact_form, settings):
    settings.PROMPT_PROPERTY_MAX_CHARS = 100
    long_answer = "spam " * 2000  # 10,000 characters, well within the form's limit
    response = client.post(
        contact_form.get_public_path(), {"email": "eve@ex.com", "looking_for": long_answer}
    )
    assert response.status_code == 200
    contact = Record.objects.get(email="eve@ex.com")
    assert contact.properties["looking_for"] == long_answer.strip()
    resolver = TokenResolver(
        record=contact,
        definitions=definitions_for(contact.account, "contact"),
        earlier_outputs={},
    )

    prompt = registry.get(ACTION_KEY).resolve_config(
        {"prompt": "Rate this lead: {{ object.looking_for }} (from {{ object.email }})"}, resolver
    )["prompt"]

    assert prompt == (
        f"Rate this lead: {long_answer[:100]} [… {len(long_answer.strip()) - 100} more "
        "characters cut] (from eve@ex.com)"
    )


def test_with_no_cap_the_whole_answer_reaches_the_prompt(contact_form, acme, settings):
    settings.PROMPT_PROPERTY_MAX_CHARS = 0
    PropertyDefinition.objects.get(account=acme, name="looking_for")
    contact = Record.objects.create(
        account=acme, object_type="contact", properties={"looking_for": "x" * 5000}
    )
    resolver = TokenResolver(
        record=contact, definitions=definitions_for(acme, "contact"), earlier_outputs={}
    )
    prompt = registry.get(ACTION_KEY).resolve_config(
        {"prompt": "{{ object.looking_for }}"}, resolver
    )["prompt"]
    assert prompt == "x" * 5000
