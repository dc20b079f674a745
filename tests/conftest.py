"""Shared fixtures: two accounts from day one, one user per role in each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from crm.models import Account, Role, User

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


def make_user(account: Account, username: str, role: Role, **extra) -> User:
    return User.objects.create_user(
        username=username,
        password=PASSWORD,
        account=account,
        role=role,
        email=f"{username}@example.com",
        **extra,
    )


@pytest.fixture(autouse=True)
def _site_language():
    """Each test starts in the site's language: a test (or an in-process request) that
    activated French must not change what the next one reads."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def acme(db) -> Account:
    return Account.objects.create(name="Acme")


@pytest.fixture
def globex(db) -> Account:
    return Account.objects.create(name="Globex")


@pytest.fixture
def admin_user(acme) -> User:
    return make_user(acme, "admin", Role.SUPER_ADMIN, first_name="Alex", last_name="Admin")


@pytest.fixture
def builder_user(acme) -> User:
    return make_user(acme, "builder", Role.WORKFLOW_BUILDER, first_name="Blake")


@pytest.fixture
def rep_user(acme) -> User:
    return make_user(acme, "rep", Role.SALES_REP, first_name="Riley", last_name="Rep")


@pytest.fixture
def globex_admin(globex) -> User:
    return make_user(globex, "globex-admin", Role.SUPER_ADMIN, first_name="Gale")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user) -> Client:
    return client_for(admin_user)


@pytest.fixture
def builder_client(builder_user) -> Client:
    return client_for(builder_user)


@pytest.fixture
def rep_client(rep_user) -> Client:
    return client_for(rep_user)


@pytest.fixture
def globex_client(globex_admin) -> Client:
    return client_for(globex_admin)


# --- Browser tests -----------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# `make screenshots` sets CRMFLOW_SCREENSHOTS_DIR=docs/images for the user guide's images.
DOCS_SCREENSHOTS = os.environ.get("CRMFLOW_SCREENSHOTS_DIR", "")
SCREENSHOTS = (
    Path(DOCS_SCREENSHOTS) if DOCS_SCREENSHOTS else BASE_DIR / "test-results" / "screenshots"
)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; skipped (or failed in CI) when absent."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CRMFLOW_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    # Assertions wait as long as actions do: on a loaded 2-core machine (CI runs a real
    # worker and Chromium next to the suite) an htmx swap can take more than 5 s.
    from playwright.sync_api import expect

    from tests.accessibility import audited_context, close_checked

    expect.set_options(timeout=15_000)
    context = audited_context(browser, base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    close_checked(context)  # fails on serious/critical axe-core violations


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # For the docs, what the user sees in the window (small files); else the whole page.
    page.screenshot(path=str(path), full_page=not DOCS_SCREENSHOTS)
    return path


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
