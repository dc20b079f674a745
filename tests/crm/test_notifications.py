"""Notifications: notify() (idempotent, in-app and email), the bell, mark read."""

import pytest
from django.core import mail

from crm.models import Notification
from crm.notifications import notify
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_notify_creates_one_notification_per_recipient_and_emails_them(
    acme, rep_user, admin_user, locmem, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = notify(
            account=acme,
            recipients=[rep_user, admin_user, rep_user],
            title="Lead qualified",
            body="Jane is hot",
            url="/objects/contacts/1/",
            email=True,
        )
    assert len(created) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@example.com", "rep@example.com"]
    assert mail.outbox[0].subject == "Lead qualified"
    assert "/objects/contacts/1/" in mail.outbox[0].body


def test_notify_is_idempotent_by_key(acme, rep_user, locmem, django_capture_on_commit_callbacks):
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            notify(
                account=acme,
                recipients=[rep_user],
                title="Once",
                idempotency_key="exec-1",
                email=True,
            )
    assert Notification.objects.filter(recipient=rep_user).count() == 1
    assert len(mail.outbox) == 1


def test_notify_skips_other_accounts_users_and_external_urls(acme, globex_admin, rep_user):
    created = notify(
        account=acme,
        recipients=[globex_admin, rep_user],
        title="Hi",
        url="https://evil.example/phish",
    )
    assert [n.recipient for n in created] == [rep_user]
    assert created[0].url == ""


def test_the_email_goes_through_the_configured_file_backend(
    acme, rep_user, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        notify(account=acme, recipients=[rep_user], title="Filed", email=True)
    written = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "Subject: Filed" in written and "rep@example.com" in written


def test_the_bell_shows_the_unread_count(rep_client, acme, rep_user):
    notify(account=acme, recipients=[rep_user], title="One")
    notify(account=acme, recipients=[rep_user], title="Two")
    html = rep_client.get("/tasks/").content.decode()
    assert "data-unread-count>2</span>" in html


def test_opening_a_notification_marks_it_read_and_follows_it(rep_client, acme, rep_user):
    [notification] = notify(account=acme, recipients=[rep_user], title="Go", url="/tasks/")
    response = rep_client.post(f"/notifications/{notification.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/tasks/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "data-unread-count" not in rep_client.get("/tasks/").content.decode()


def test_mark_all_read(rep_client, acme, rep_user, admin_user):
    notify(account=acme, recipients=[rep_user, admin_user], title="A")
    notify(account=acme, recipients=[rep_user], title="B")
    response = rep_client.post("/notifications/read-all/")
    assert response.status_code == 302
    assert not Notification.objects.filter(recipient=rep_user, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=admin_user, read_at__isnull=True).exists()


def test_the_list_shows_only_my_notifications(rep_client, acme, rep_user, admin_user):
    notify(account=acme, recipients=[rep_user], title="For rep")
    notify(account=acme, recipients=[admin_user], title="For admin")
    html = rep_client.get("/notifications/").content.decode()
    assert "For rep" in html and "For admin" not in html


def test_someone_elses_notification_is_a_404(rep_client, globex_client, acme, rep_user):
    [notification] = notify(account=acme, recipients=[rep_user], title="Mine")
    assert globex_client.post(f"/notifications/{notification.pk}/open/").status_code == 404
    other = make_user(acme, "other", "sales_rep")
    [theirs] = notify(account=acme, recipients=[other], title="Theirs")
    assert rep_client.post(f"/notifications/{theirs.pk}/open/").status_code == 404
