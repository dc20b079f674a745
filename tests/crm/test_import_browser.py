"""In a real browser: a CSV import from upload to results, and the API tokens page.

The import runs where it runs in production: on a real Celery worker (the `crm.import_run`
task on the `default` queue), while the page polls itself until the results are in.
It used to run the task in the test process and reload the page, while the message the
page had queued sat in Redis for whichever worker came next; it timed out in CI.
"""

import pytest

from crm.models import Record
from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)
from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def import_csv(page, csv_file, *, what: str = "Contacts", shot: str | None = None) -> None:
    """Settings → Import → what → the CSV file → Next: map columns (the guessed mapping,
    screenshot `shot`) → Start import; returns on the progress page."""
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("What are you importing?").select_option(label=what)
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Next: map columns").click()
    page.get_by_role("heading", name="Map columns to properties").wait_for()
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Start import").click()
    page.locator("#import-progress").wait_for()


@pytest.mark.integration
def test_an_admin_imports_a_csv_and_watches_it_finish(page, admin_user, tmp_path, celery_worker):
    celery_worker(queues=("default", "sweep"))
    csv_file = tmp_path / "leads.csv"
    csv_file.write_bytes(
        "Email;Prénom;Nom;Société;Téléphone\n"
        "ana@example.com;Ana;Lopez;Initech;+33 1 23 45 67 89\n"
        "bob@;Bob;Martin;Hooli;\n"
        "cy@example.com;Cy;Ng;Globex;\n".encode("cp1252")
    )
    log_in(page, "admin")
    import_csv(page, csv_file, shot="intake-import-mapping")

    # The worker imports; the progress card refreshes itself every second until done.
    page.get_by_text("Row 3: “bob@” is not a valid email address").wait_for(timeout=90_000)
    screenshot(page, "intake-import-results")
    assert Record.objects.filter(object_type="contact").count() == 2


def test_an_admin_creates_an_api_token_and_sees_it_once(page, admin_user):
    log_in(page, "admin")
    page.goto("/settings/api-tokens/")
    page.get_by_label("Token name").fill("Website backend")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New token").input_value()
    assert token.startswith("crm_")
    screenshot(page, "intake-api-tokens")
    page.goto("/settings/api-tokens/")
    assert page.get_by_label("New token").count() == 0
