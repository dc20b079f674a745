"""Format record data (seed §1.7) on an OpenAI-compatible server, in Chromium: the
account runs "Format state codes" on OpenAI (the simulator); a super admin reconnects
the OpenAI app to an "OpenAI-compatible server" (a second, bare simulator on another
port: no rate-limit headers, no key; a self-hoster's local model server, so private
addresses and http are allowed by the settings) and a new contact's state is formatted
by the assistant there; then reconnects back to OpenAI and the next contact's state is
formatted by OpenAI again. A real Celery worker runs the workflow both times."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.models import Record
from marketplace.integrations.openai.models import ConnectionEndpoint
from openai_simulator.config import DEMO_KEY
from openai_simulator.testing import running_simulator
from tests.builder.test_build_in_browser import FAST
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (a fixture)
from tests.conftest import log_in, screenshot
from tests.integrations.openai.conftest import (  # noqa: F401  (fixtures)
    connect,
    sim,
    simulator_session,
)
from tests.usecases.steps import crm_menu
from tests.usecases.test_format_state_template import contact, format_state_on

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What `OPENAI_ENDPOINT_ALLOW_HTTP` / `…_PRIVATE` allow: a server on this machine over http.
LOCAL = {"OPENAI_ENDPOINT_ALLOW_HTTP": "true", "OPENAI_ENDPOINT_ALLOW_PRIVATE": "true"}


@pytest.fixture
def compatible_server():
    """A bare OpenAI-compatible server (vLLM-like) on a port of its own."""
    with running_simulator({"bare": True, "models": [{"id": "gpt-4o-mini"}]}) as running:
        yield running


def reconnect(page: Page, kind: str, *, url: str = "", api_key: str = "") -> None:
    """Marketplace → OpenAI → Manage → Actions → Reconnect app: where calls go, the
    address and the key, then Connect."""
    page.get_by_role("link", name="Marketplace", exact=True).click()
    page.get_by_role("searchbox", name="Search apps").fill("OpenAI")
    page.wait_for_url("**/marketplace/?q=OpenAI*")
    page.get_by_role("link", name="OpenAI", exact=True).click()
    page.get_by_role("link", name="Manage", exact=True).click()
    page.get_by_text("Actions", exact=True).click()
    page.get_by_role("menuitem", name="Reconnect app").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(kind, exact=True).check()
    if url:
        dialog.get_by_label("Address").fill(url)
    if api_key:
        dialog.get_by_label("API key").fill(api_key)
    dialog.get_by_role("button", name="Connect to OpenAI").click()


def formatted(page: Page, name: str, code: str) -> None:
    """CRM → Contacts → the contact: its State/Region reads `code` (the page is opened
    again until the worker has written it)."""

    def written() -> bool:
        record = Record.objects.get(properties__first_name=name.split()[0])
        return record.properties.get("state") == code

    wait_for(written, timeout=120, message=f"{name}'s state to become {code}")
    crm_menu(page, "Contacts")
    page.get_by_role("link", name=name).click()
    expect(page.locator("#property-state")).to_contain_text(code)


def test_the_state_is_formatted_on_a_compatible_server_then_on_openai_again(
    page, live_server, sim, compatible_server, acme, admin_user, celery_worker, settings
):
    settings.OPENAI_ENDPOINT_ALLOW_HTTP = True  # the live server (this process)
    settings.OPENAI_ENDPOINT_ALLOW_PRIVATE = True
    page.set_viewport_size({"width": 1440, "height": 900})
    page.set_default_timeout(30_000)  # a shared, loaded machine
    celery_worker(beat=True, env={**FAST, **LOCAL, "OPENAI_BASE_URL": sim.base_url})
    connection = connect(acme)
    format_state_on(acme, admin_user)
    log_in(page, "admin")

    # Reconnect to the compatible server: no key needed, its /models lists the model.
    reconnect(page, "OpenAI-compatible server", url=compatible_server.base_url)
    page.get_by_text("OpenAI is reconnected through OpenAI-compatible server.").wait_for()
    screenshot(page, "compatible-1-reconnected")
    endpoint = ConnectionEndpoint.objects.get(connection=connection)
    assert (endpoint.kind, endpoint.url) == ("compatible", compatible_server.base_url)

    contact(acme, admin_user, "Ann", "california")
    formatted(page, "Ann Doe", "CA")
    screenshot(page, "compatible-2-formatted")
    assert len(compatible_server.requests(path_prefix="/v1/responses")) == 1
    assert not sim.requests(path_prefix="/v1/responses")

    # Back to OpenAI with the demo key: the next contact is formatted there.
    reconnect(page, "OpenAI", api_key=DEMO_KEY)
    page.get_by_text("OpenAI is reconnected with the new key.").wait_for()
    assert ConnectionEndpoint.objects.get(connection=connection).kind == "openai"
    contact(acme, admin_user, "Bo", "new york")
    formatted(page, "Bo Doe", "NY")
    screenshot(page, "compatible-3-back-on-openai")
    assert len(sim.requests(path_prefix="/v1/responses")) == 1
    assert len(compatible_server.requests(path_prefix="/v1/responses")) == 1
