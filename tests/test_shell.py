"""The app shell: login everywhere, menus by role, one account never sees another."""

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

PAGES = [
    reverse("crm:home"),
    reverse("crm:record_list", args=["contacts"]),
    reverse("crm:task_list"),
    reverse("crm:settings_home"),
    reverse("crm:settings_users"),
    reverse("marketplace:catalog"),
    reverse("marketplace:connected_apps"),
    reverse("workflows:list"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_page_requires_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("crm:login"))


@pytest.mark.django_db
def test_the_login_page_is_public(client):
    response = client.get(reverse("crm:login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


def test_logging_in_lands_on_the_crm(client, rep_user):
    response = client.post(
        reverse("crm:login"), {"username": "rep", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert response.context["user"] == rep_user
    assert b"Contacts" in response.content


def test_a_wrong_password_says_so(client, rep_user):
    response = client.post(reverse("crm:login"), {"username": "rep", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_super_admins_see_connected_apps_in_settings(admin_client):
    response = admin_client.get(reverse("crm:settings_home"))
    assert b"Connected apps" in response.content
    assert b"Users & roles" in response.content


def test_sales_reps_see_no_integrations_in_settings(rep_client):
    response = rep_client.get(reverse("crm:settings_home"))
    assert response.status_code == 200
    assert b"Connected apps" not in response.content
    assert b"Integrations" not in response.content


@pytest.mark.parametrize(
    "url", [reverse("marketplace:connected_apps"), reverse("crm:settings_users")]
)
def test_sales_reps_and_builders_are_refused_admin_pages(rep_client, builder_client, url):
    for client in (rep_client, builder_client):
        response = client.get(url)
        assert response.status_code == 403
        assert b"Your role does not allow this" in response.content


def test_the_top_bar_has_the_product_menus(admin_client):
    content = admin_client.get(reverse("crm:settings_home")).content.decode()
    for label in [
        "CRM",
        "Contacts",
        "Companies",
        "Deals",
        "Tickets",
        "Tasks",
        "Automation",
        "Workflows",
        'aria-label="Marketplace"',
        'aria-label="Settings"',
        '<span class="visually-hidden">Notifications</span>',
    ]:
        assert label in content


def test_users_page_lists_only_the_accounts_own_people(admin_client, rep_user, globex_admin):
    content = admin_client.get(reverse("crm:settings_users")).content.decode()
    assert "Riley Rep" in content
    assert "globex-admin" not in content and "Gale" not in content


def test_a_user_without_an_account_is_refused_politely(client, django_user_model):
    operator = django_user_model.objects.create_user(username="ops", password=PASSWORD)
    client.force_login(operator)
    response = client.get(reverse("crm:settings_home"))
    assert response.status_code == 403
    assert b"does not belong to any account" in response.content


def test_the_shell_speaks_french(admin_client):
    admin_client.post(reverse("set_language"), {"language": "fr", "next": "/settings/"})
    content = admin_client.get(reverse("crm:settings_home")).content.decode()
    assert "Paramètres" in content
    assert "Applications connectées" in content
    assert "Automatisation" in content
