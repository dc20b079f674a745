"""Install: Marketplace > OpenAI > Install > API key > Connect to OpenAI."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from marketplace.encryption import secret_fingerprint
from marketplace.models import AppLogEntry, AppLogEvent, Connection, ConnectionStatus
from tests.marketplace.helpers import (
    MISSING_SCOPES_KEY,
    NO_QUOTA_KEY,
    ORGANIZATION,
    PROJECT,
    REVOKED_KEY,
    UNKNOWN_KEY,
    VALID_KEY,
    htmx,
)

CONNECT = reverse("marketplace:openai_connect")
APP_PAGE = reverse("marketplace:app_detail", args=["openai"])


def connect(client, api_key, **extra):
    return client.post(CONNECT, {"api_key": api_key, **extra})


def test_an_admin_installs_openai_with_a_valid_key(sim, admin_client, admin_user, acme):
    response = connect(admin_client, VALID_KEY)

    assert response.status_code == 302
    assert response["Location"] == APP_PAGE
    connection = Connection.objects.get(account=acme, app="openai")
    assert connection.status == ConnectionStatus.CONNECTED
    assert connection.secret() == VALID_KEY
    assert connection.secret_mask == "sk-…0000"
    assert connection.secret_fingerprint == secret_fingerprint(VALID_KEY)
    assert connection.organization == ORGANIZATION
    assert connection.project == PROJECT
    assert connection.connected_by == admin_user
    assert "text-embedding-3-small" in connection.available_models
    log = AppLogEntry.objects.get(connection=connection)
    assert (log.event, log.actor) == (AppLogEvent.INSTALLED, admin_user)
    assert [r["path"] for r in sim.requests()] == ["/v1/models"]

    page = admin_client.get(APP_PAGE).content.decode()
    assert "OpenAI is connected" in page
    assert "sk-…0000" in page and ORGANIZATION in page and PROJECT in page


@pytest.mark.parametrize(
    ("api_key", "message"),
    [
        (REVOKED_KEY, "OpenAI rejected this API key: it is incorrect, revoked or expired."),
        (UNKNOWN_KEY, "OpenAI rejected this API key: it is incorrect, revoked or expired."),
        (MISSING_SCOPES_KEY, "This API key does not have the permissions crmflow needs"),
    ],
    ids=["revoked", "unknown", "missing-scopes"],
)
def test_a_refused_key_gets_its_own_message_and_stores_nothing(sim, admin_client, api_key, message):
    response = connect(admin_client, api_key)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Connection.objects.exists()
    assert not AppLogEntry.objects.exists()


def test_a_key_without_quota_connects_with_a_warning(sim, admin_client, acme):
    response = connect(admin_client, NO_QUOTA_KEY)

    assert response.status_code == 302
    connection = Connection.objects.get(account=acme)
    assert connection.status == ConnectionStatus.CONNECTED
    assert connection.quota_exhausted
    page = admin_client.get(response["Location"]).content.decode()
    assert "quota is exhausted" in page


def test_openai_unreachable_stores_nothing_and_says_try_again(openai_unreachable, admin_client):
    response = connect(admin_client, VALID_KEY)

    assert response.status_code == 200
    assert "crmflow could not reach OpenAI. Nothing was saved" in response.content.decode()
    assert not Connection.objects.exists()


def test_openai_timing_out_stores_nothing_and_says_try_again(sim, settings, admin_client):
    settings.OPENAI_TIMEOUT = 0.5
    sim.configure(faults=[{"path_prefix": "/v1/models", "hang": 1.0, "times": 1}])

    response = connect(admin_client, VALID_KEY)

    assert response.status_code == 200
    assert "OpenAI did not answer in time. Nothing was saved" in response.content.decode()
    assert not Connection.objects.exists()


def test_an_openai_server_error_stores_nothing(sim, admin_client):
    sim.configure(faults=[{"path_prefix": "/v1/models", "error_500": 1.0, "times": 1}])

    response = connect(admin_client, VALID_KEY)

    assert response.status_code == 200
    assert "OpenAI answered with an unexpected error" in response.content.decode()
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("api_key", "message"),
    [
        ("", "Paste your OpenAI API key."),
        ("    \n\t ", "Paste your OpenAI API key."),
        ("sk-" + "a" * 10_000, "This is too long to be an OpenAI API key."),
        ("sk-abc def-123456789", "An OpenAI API key has no spaces"),
        ("sk-clé-with-accents-123456", "An OpenAI API key has no spaces"),
        ("sk-nul\x00byte-1234567890", "Null characters are not allowed."),
    ],
    ids=["empty", "whitespace", "10000-chars", "inner-space", "non-ascii", "nul-byte"],
)
def test_bad_input_gets_a_clear_message_and_never_reaches_openai(
    sim, admin_client, api_key, message
):
    response = connect(admin_client, api_key)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Connection.objects.exists()
    assert sim.requests() == []


def test_surrounding_whitespace_is_ignored(sim, admin_client, acme):
    connect(admin_client, f"  {VALID_KEY}\n")

    assert Connection.objects.get(account=acme).secret() == VALID_KEY


@pytest.mark.parametrize("user_client", ["rep_client", "builder_client"])
def test_only_super_admins_can_install(db, sim, request, user_client):
    client = request.getfixturevalue(user_client)

    assert client.get(CONNECT).status_code == 403
    response = connect(client, VALID_KEY)

    assert response.status_code == 403
    assert (
        "Your role does not allow this: only super admins can install, reconnect or uninstall"
        in response.content.decode()
    )
    assert not Connection.objects.exists()
    assert sim.requests() == []


def test_a_rep_sees_why_install_is_disabled_on_the_listing(rep_client):
    page = rep_client.get(reverse("marketplace:listing", args=["openai"])).content.decode()

    assert "Only super admins can install apps." in page
    assert CONNECT not in page


def test_a_second_install_leads_to_the_existing_connection(sim, admin_client, acme):
    connect(admin_client, VALID_KEY)
    sim.clear_requests()

    response = connect(admin_client, NO_QUOTA_KEY)

    assert response.status_code == 302
    assert response["Location"] == APP_PAGE
    assert Connection.objects.get(account=acme).secret() == VALID_KEY
    assert sim.requests() == []
    assert admin_client.get(CONNECT)["Location"] == APP_PAGE


def test_the_database_refuses_a_second_connection_for_an_account(acme, globex):
    Connection.objects.create(account=acme, app="openai")
    Connection.objects.create(account=globex, app="openai")

    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.create(account=acme, app="openai")


def test_two_accounts_each_connect_their_own_key(sim, admin_client, globex_client, acme, globex):
    connect(admin_client, VALID_KEY)
    connect(globex_client, NO_QUOTA_KEY)

    assert Connection.objects.get(account=acme).secret() == VALID_KEY
    assert Connection.objects.get(account=globex).secret() == NO_QUOTA_KEY


def test_with_htmx_the_dialog_is_a_partial_and_success_redirects_the_page(sim, admin_client):
    client = htmx(admin_client)

    dialog = client.get(CONNECT).content.decode()
    assert dialog.lstrip().startswith('<dialog id="connect-dialog"')
    assert "Connect to OpenAI" in dialog and "Only organisation owners" in dialog

    refused = connect(client, REVOKED_KEY).content.decode()
    assert refused.lstrip().startswith("<dialog") and "revoked" in refused

    response = connect(client, VALID_KEY)
    assert response.status_code == 200
    assert response["HX-Redirect"] == APP_PAGE


def test_connecting_from_a_workflow_returns_to_it(sim, admin_client):
    workflow = "/automation/workflows/7/edit/?step=3"
    dialog = admin_client.get(CONNECT, {"next": workflow}).content.decode()
    assert 'value="/automation/workflows/7/edit/?step=3"' in dialog

    response = connect(admin_client, VALID_KEY, next=workflow)

    assert response["Location"] == workflow


@pytest.mark.parametrize(
    "evil", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_an_outside_next_is_ignored(sim, admin_client, evil):
    assert evil not in admin_client.get(CONNECT, {"next": evil}).content.decode()

    response = connect(admin_client, VALID_KEY, next=evil)

    assert response["Location"] == APP_PAGE


@pytest.mark.django_db(transaction=True)
def test_two_racing_installs_end_with_one_connection_and_both_on_its_page(sim, admin_user, acme):
    import threading

    from django.db import connections
    from django.test import Client

    barrier = threading.Barrier(2)
    responses = []

    def install(api_key):
        client = Client()
        client.force_login(admin_user)
        barrier.wait()
        try:
            responses.append(connect(client, api_key))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=install, args=(key,)) for key in (VALID_KEY, NO_QUOTA_KEY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in responses] == [302, 302]
    assert {r["Location"] for r in responses} == {APP_PAGE}
    assert Connection.objects.filter(account=acme).count() == 1
    assert AppLogEntry.objects.filter(event=AppLogEvent.INSTALLED).count() == 1


def test_the_connect_dialog_proposes_a_monthly_budget(sim, admin_client, settings):
    settings.OPENAI_DEFAULT_MONTHLY_BUDGET_USD = 50
    page = admin_client.get(CONNECT).content.decode()
    assert "Monthly budget (US dollars)" in page
    assert 'name="monthly_budget_usd" value="50"' in page


def test_a_new_connection_gets_the_budget_entered_in_the_dialog(sim, admin_client, acme):
    from marketplace.integrations.openai.models import AssistantBudget, BudgetUnit

    response = connect(admin_client, VALID_KEY, monthly_budget_usd="25")

    assert response.status_code == 302
    budget = AssistantBudget.objects.get(account=acme)
    assert (budget.workflow, budget.unit, budget.monthly_limit) == (None, BudgetUnit.USD, 25)
    usage = admin_client.get(reverse("marketplace:openai_usage")).content.decode()
    assert "The whole OpenAI connection" in usage and "25 US dollars" in usage


def test_a_cleared_budget_field_connects_without_a_budget(sim, admin_client, acme):
    from marketplace.integrations.openai.models import AssistantBudget

    assert connect(admin_client, VALID_KEY, monthly_budget_usd="").status_code == 302
    assert Connection.objects.filter(account=acme).exists()
    assert not AssistantBudget.objects.exists()


def test_a_negative_budget_is_refused_with_a_message(sim, admin_client):
    response = connect(admin_client, VALID_KEY, monthly_budget_usd="-5")
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    assert not Connection.objects.exists()
