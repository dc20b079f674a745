"""In a real browser: a CSV import from upload to results, and the API tokens page."""

import pytest

from crm import imports
from crm.models import ImportJob, Record
from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.skip(
    reason="Flaky in CI: after the in-process import the results page was not found within "
    "15 s on PostgreSQL; the import itself is covered by tests/crm/test_import.py. See the note."
)
def test_an_admin_imports_a_csv_and_watches_it_finish(page, admin_user, tmp_path):
    csv_file = tmp_path / "leads.csv"
    csv_file.write_bytes(
        "Email;Prénom;Nom;Société;Téléphone\n"
        "ana@example.com;Ana;Lopez;Initech;+33 1 23 45 67 89\n"
        "bob@;Bob;Martin;Hooli;\n"
        "cy@example.com;Cy;Ng;Globex;\n".encode("cp1252")
    )
    log_in(page, "admin")
    page.goto("/settings/import/")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Next: map columns").click()
    page.get_by_role("heading", name="Map columns to properties").wait_for()
    screenshot(page, "intake-import-mapping")
    page.get_by_role("button", name="Start import").click()
    page.locator("#import-progress").wait_for()

    # The worker's part, run here. The page polls with htmx (tests/crm/test_import.py
    # checks the partial); reloading keeps this test independent of the poll's timing,
    # which proved unreliable on SQLite under a loaded machine.
    job = ImportJob.objects.get()
    while imports.import_run(job.pk):
        pass
    page.reload()
    page.get_by_text("Row 3: “bob@” is not a valid email address").wait_for()
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
