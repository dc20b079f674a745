"""CSV import: reading files, mapping columns, per-row errors, merging duplicates, and
batches that commit all-or-nothing and resume after a crash.

The Celery task runs in-process here (called directly); no worker is started.
"""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm import import_files, imports, services
from crm import tasks as crm_tasks
from crm.models import ImportJob, Record, TimelineEvent
from crm.signals import records_bulk_changed


def upload(client, content: bytes, object_type="contact", name="contacts.csv"):
    return client.post(
        reverse("intake:import_list"),
        {"object_type": object_type, "file": SimpleUploadedFile(name, content, "text/csv")},
    )


def run(job: ImportJob) -> ImportJob:
    """Run the import the way the worker does, until done."""
    while imports.import_run(job.pk):
        pass
    job.refresh_from_db()
    return job


def start(client, content: bytes, mapping: dict | None = None, **kwargs) -> ImportJob:
    response = upload(client, content, **kwargs)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = ImportJob.objects.latest("id")
    post = (
        mapping
        if mapping is not None
        else {f"column_{index}": name for index, name in job.mapping.items()}
    )
    response = client.post(reverse("intake:import_mapping", args=[job.pk]), post)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED
    return job


CONTACTS = (
    b"Email,First Name,Last Name,Phone\n"
    b"ana@example.com,Ana,Lopez,+33 1 23\n"
    b"bob@,Bob,Martin,\n"
    b"cy@example.com,Cy,,\n"
)


def test_the_mapping_is_guessed_from_the_headers(admin_client):
    upload(
        admin_client, "E-mail;Prénom;Nom;Job Title;Favourite colour\nx@y.fr;A;B;C;red\n".encode()
    )
    job = ImportJob.objects.get()
    assert job.delimiter == ";"
    assert job.mapping == {"0": "email", "1": "first_name", "2": "last_name", "3": "job_title"}
    page = admin_client.get(reverse("intake:import_mapping", args=[job.pk]))
    assert b"Favourite colour" in page.content
    assert "Don't import this column" in page.content.decode()


def test_an_import_creates_records_and_reports_bad_rows_by_number(admin_client, acme):
    job = run(start(admin_client, CONTACTS))
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.updated_count, job.error_count) == (2, 0, 1)
    assert job.errors == [
        {
            "row": 3,
            "message": "Row 3: “bob@” is not a valid email address (expected name@example.com).",
        }
    ]
    ana = Record.objects.get(account=acme, email="ana@example.com")
    assert ana.properties == {
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "Lopez",
        "phone": "+33 1 23",
    }
    page = admin_client.get(job.get_absolute_url())
    assert "Row 3: “bob@” is not a valid email address" in page.content.decode()


def test_rows_matching_an_existing_record_update_it_instead_of_duplicating(admin_client, acme):
    existing = services.record_create(
        account=acme,
        object_type="contact",
        values={"email": "ana@example.com", "first_name": "Old", "job_title": "CEO"},
    )
    announced = []

    def receiver(sender, created_ids, updated_ids, source, **kwargs):
        announced.append((len(created_ids), updated_ids, source))

    records_bulk_changed.connect(receiver)
    try:
        job = run(
            start(
                admin_client,
                (
                    b"email,first_name,job_title\n"
                    b"ANA@example.com,Ana,\n"  # merges into the existing contact; empty cell kept
                    b"new@example.com,New,Dev\n"
                    b"new@example.com,,Lead dev\n"  # a duplicate inside the file: one contact
                ),
            )
        )
    finally:
        records_bulk_changed.disconnect(receiver)
    # One announcement per batch for the created records, one for the merged ones.
    assert announced == [(1, [], "import"), (0, [existing.pk], "import")]
    assert (job.created_count, job.updated_count, job.error_count) == (1, 1, 0)
    existing.refresh_from_db()
    assert existing.properties["first_name"] == "Ana"
    assert existing.properties["job_title"] == "CEO"
    new = Record.objects.get(account=acme, email="new@example.com")
    assert new.properties == {
        "email": "new@example.com",
        "first_name": "New",
        "job_title": "Lead dev",
    }
    assert Record.objects.filter(account=acme).count() == 2
    assert TimelineEvent.objects.filter(record=existing, source="import").exists()


def test_companies_are_merged_by_domain(admin_client, acme):
    services.record_create(
        account=acme, object_type="company", values={"name": "Acme", "domain": "acme.com"}
    )
    job = run(
        start(
            admin_client,
            b"Company name,Company domain name,Number of employees\n"
            b"Acme Corp,ACME.com,120\nInitech,initech.com,abc\n",
            object_type="company",
        )
    )
    assert (job.created_count, job.updated_count, job.error_count) == (0, 1, 1)
    acme_co = Record.objects.get(account=acme, object_type="company")
    assert acme_co.properties["name"] == "Acme Corp"
    assert acme_co.properties["number_of_employees"] == "120"
    assert "Row 3: “abc” is not a number" in job.errors[0]["message"]


def test_another_account_with_the_same_email_is_not_merged(admin_client, acme, globex):
    services.record_create(
        account=globex, object_type="contact", values={"email": "ana@example.com"}
    )
    job = run(start(admin_client, b"email\nana@example.com\n"))
    assert job.created_count == 1
    assert Record.objects.filter(account=acme, email="ana@example.com").count() == 1
    assert Record.objects.filter(account=globex, email="ana@example.com").count() == 1


@pytest.mark.parametrize(
    "content",
    [
        "email,first_name\nzoe@example.com,Zoé\n".encode(),
        "email,first_name\nzoe@example.com,Zoé\n".encode("utf-8-sig"),
        "email;first_name\r\nzoe@example.com;Zoé\r\n".encode("cp1252"),
        "email;first_name\nzoe@example.com;Zoé\n".encode("latin-1"),
        '"email";"first_name"\n"zoe@example.com";"Zoé"\n'.encode("utf-8-sig"),
    ],
    ids=["utf8", "utf8-bom", "windows-1252-semicolon-crlf", "latin1-semicolon", "quoted"],
)
def test_encodings_and_delimiters_are_detected(admin_client, acme, content):
    job = run(start(admin_client, content))
    assert job.error_count == 0, job.errors
    assert (
        Record.objects.get(account=acme, email="zoe@example.com").properties["first_name"] == "Zoé"
    )


def test_a_file_over_the_size_limit_is_refused_with_a_clear_message(admin_client, monkeypatch):
    monkeypatch.setattr(import_files, "MAX_FILE_BYTES", 1024 * 1024)
    response = upload(admin_client, b"email\n" + b"a@example.com\n" * 80_000)
    assert response.status_code == 200
    assert "the limit is 1 MB. Split it into smaller files." in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "The submitted file is empty."),
        (b"email\n", "The file has a header line but no rows to import."),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "This is not a CSV file"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_message(admin_client, content, message):
    response = upload(admin_client, content)
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_mapping_the_same_property_twice_is_refused(admin_client):
    upload(admin_client, b"email,mail2\na@example.com,b@example.com\n")
    job = ImportJob.objects.get()
    response = admin_client.post(
        reverse("intake:import_mapping", args=[job.pk]), {"column_0": "email", "column_1": "email"}
    )
    assert "Each property can be chosen for one column only: Email." in response.content.decode()


def test_large_files_are_imported_in_batches_with_progress(admin_client, acme, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 100)
    rows = "".join(f"user{n}@example.com,User {n}\n" for n in range(1_050))
    job = start(admin_client, ("email,first_name\n" + rows).encode())
    assert job.total_rows == 1_050
    assert imports.import_run(job.pk, time_budget=0) is True  # one batch, then hand over
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.percent) == (ImportJob.Status.RUNNING, 100, 10)
    progress = admin_client.get(job.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert b'id="import-progress"' in progress.content and b"<html" not in progress.content
    assert b"100 of 1050 rows" in progress.content
    job = run(job)
    assert (job.status, job.created_count, job.rows_done) == (ImportJob.Status.DONE, 1_050, 1_050)
    assert Record.objects.filter(account=acme).count() == 1_050


def test_a_crash_keeps_committed_batches_and_the_import_resumes_after_them(
    admin_client, acme, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH_SIZE", 10)
    existing = services.record_create(
        account=acme, object_type="contact", values={"email": "user15@example.com"}
    )
    rows = "".join(f"user{n}@example.com,User {n}\n" for n in range(30))
    job = start(admin_client, ("email,first_name\n" + rows).encode())

    # Fault injection: the connection is lost in the second batch, after its records
    # were written (so the test shows they are rolled back, not just never written).
    real_bulk_create = services.records_bulk_create
    calls = []

    def crashing_bulk_create(**kwargs):
        calls.append(1)
        ids = real_bulk_create(**kwargs)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return ids

    monkeypatch.setattr(services, "records_bulk_create", crashing_bulk_create)
    with pytest.raises(RuntimeError):
        imports.import_run(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.rows_done == 10 and job.created_count == 10
    assert "connection lost" in job.failure
    # Nothing of the failed batch stayed: batch 2 was all-or-nothing.
    assert Record.objects.filter(account=acme).count() == 11
    page = admin_client.get(job.get_absolute_url())
    assert b"Resume import" in page.content

    monkeypatch.setattr(services, "records_bulk_create", real_bulk_create)
    admin_client.post(job.get_absolute_url(), {"resume": ""})
    job = run(job)
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.updated_count) == (29, 1)
    assert Record.objects.filter(account=acme).count() == 30
    existing.refresh_from_db()
    assert existing.properties["first_name"] == "User 15"


def test_a_queued_import_without_progress_for_two_minutes_offers_resume(admin_client, acme):
    job = start(admin_client, CONTACTS)
    assert b"Resume import" not in admin_client.get(job.get_absolute_url()).content
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=3))
    assert b"Resume import" in admin_client.get(job.get_absolute_url()).content


def test_running_a_finished_import_again_imports_nothing_twice(admin_client, acme):
    job = run(start(admin_client, CONTACTS))
    crm_tasks.import_run(job.pk)  # a redelivered Celery message
    assert Record.objects.filter(account=acme).count() == 2


def test_the_celery_task_imports_in_process(admin_client, acme):
    job = start(admin_client, CONTACTS)
    crm_tasks.import_run(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE


def test_sales_reps_cannot_import(rep_client):
    response = rep_client.get(reverse("intake:import_list"))
    assert response.status_code == 403
    assert b"Your role cannot import records." in response.content


def test_another_accounts_import_is_404(admin_client, globex_client):
    job = start(admin_client, CONTACTS)
    assert globex_client.get(job.get_absolute_url()).status_code == 404
    assert globex_client.get(reverse("intake:import_mapping", args=[job.pk])).status_code == 404


def test_file_read_says_what_it_detected():
    fields = import_files.file_read(b"Email\tName\nx@y.z\tX\n")
    assert (fields["delimiter"], fields["encoding"], fields["total_rows"]) == ("\t", "utf-8-sig", 1)
    with pytest.raises(ValidationError):
        import_files.file_read(b"   \n")
