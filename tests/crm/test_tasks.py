"""Tasks: created from a record or the queue, "My tasks" / "All", completed with htmx."""

import datetime as dt

import pytest
from django.utils import timezone

from crm import activities
from crm.models import Notification, Task
from tests.crm.factories import contact

pytestmark = pytest.mark.django_db


def task(account, title="Call back", **extra) -> Task:
    return Task.objects.create(account=account, title=title, **extra)


def test_a_task_created_on_a_record_is_linked_and_in_its_timeline(rep_client, acme, rep_user):
    jane = contact(acme, first_name="Jane")
    response = rep_client.post(
        "/tasks/new/",
        {
            "title": "Send the quote",
            "type": "email",
            "priority": "high",
            "due_at": "2026-12-01T09:30",
            "assignee": rep_user.pk,
            "notes": "Ask about\nvolume",
            "record": jane.pk,
            "next": f"/objects/contacts/{jane.pk}/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/objects/contacts/{jane.pk}/"
    created = Task.objects.get(account=acme)
    assert list(created.records.all()) == [jane]
    assert created.created_by == rep_user and created.priority == "high"
    assert jane.timeline.filter(kind="task", data__title="Send the quote").exists()
    page = rep_client.get(f"/objects/contacts/{jane.pk}/").content.decode()
    assert "Send the quote" in page and "Ask about<br>volume" in page


def test_assigning_a_task_to_someone_else_notifies_them(admin_client, acme, rep_user):
    admin_client.post(
        "/tasks/new/",
        {"title": "Follow up", "type": "todo", "priority": "none", "assignee": rep_user.pk},
    )
    notification = Notification.objects.get(recipient=rep_user)
    task = Task.objects.get(title="Follow up")
    assert "Follow up" in notification.title and notification.url == f"/tasks/{task.pk}/"


def test_task_notes_are_escaped_and_links_made_clickable(rep_client, acme, rep_user):
    task(acme, assignee=rep_user, notes="<img src=x onerror=alert(1)> https://example.com")
    html = rep_client.get("/tasks/").content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<a href="https://example.com" rel="nofollow">' in html


def test_a_bad_task_form_explains_itself(rep_client, acme, globex_admin):
    response = rep_client.post(
        "/tasks/new/",
        {
            "title": "",
            "type": "fax",
            "priority": "urgent",
            "due_at": "tomorrow-ish",
            "assignee": globex_admin.pk,
            "notes": "x" * 70_000,
            "record": "abc",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"title", "type", "priority", "due_at", "assignee", "notes"}
    assert not Task.objects.exists()


def test_my_tasks_shows_only_mine_and_all_shows_the_accounts(
    rep_client, acme, globex, rep_user, admin_user
):
    task(acme, "Mine", assignee=rep_user)
    task(acme, "Theirs", assignee=admin_user)
    task(globex, "Other account")
    mine = [t.title for t in rep_client.get("/tasks/").context["page"]]
    everyone = [t.title for t in rep_client.get("/tasks/?view=all").context["page"]]
    assert mine == ["Mine"]
    assert sorted(everyone) == ["Mine", "Theirs"]


def test_the_queue_filters_by_status_and_due_date(rep_client, acme, rep_user):
    now = timezone.now()
    task(acme, "Late", assignee=rep_user, due_at=now - dt.timedelta(days=2))
    task(acme, "Later", assignee=rep_user, due_at=now + dt.timedelta(days=30))
    task(acme, "Done", assignee=rep_user, status="completed")
    titles = lambda url: [t.title for t in rep_client.get(url).context["page"]]  # noqa: E731
    assert titles("/tasks/?due=overdue") == ["Late"]
    assert titles("/tasks/?status=completed") == ["Done"]
    assert sorted(titles("/tasks/?status=all")) == ["Done", "Late", "Later"]
    assert titles("/tasks/?status=nonsense&due=<script>&page=zz") == ["Late", "Later"]


def test_mark_complete_with_htmx_returns_the_row(rep_client, acme, rep_user):
    item = task(acme, assignee=rep_user)
    response = rep_client.post(f"/tasks/{item.pk}/complete/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="task-{item.pk}" class="is-done"')
    item.refresh_from_db()
    assert item.status == "completed" and item.completed_at is not None
    first = item.completed_at
    rep_client.post(f"/tasks/{item.pk}/complete/")
    item.refresh_from_db()
    assert item.completed_at == first
    rep_client.post(f"/tasks/{item.pk}/complete/", {"action": "reopen"})
    item.refresh_from_db()
    assert item.status == "open" and item.completed_at is None


def test_a_rep_cannot_complete_someone_elses_task(rep_client, acme, admin_user):
    item = task(acme, assignee=admin_user)
    assert rep_client.post(f"/tasks/{item.pk}/complete/").status_code == 403
    item.refresh_from_db()
    assert item.status == "open"


def test_another_accounts_task_is_a_404(globex_client, acme):
    item = task(acme)
    assert globex_client.post(f"/tasks/{item.pk}/complete/").status_code == 404
    jane = contact(acme, first_name="Jane")
    globex_client.post(
        "/tasks/new/", {"title": "Sneaky", "type": "todo", "priority": "none", "record": jane.pk}
    )
    assert not jane.tasks.exists()


def test_a_task_has_a_page_every_mention_links_to(rep_client, acme, rep_user):
    jane = contact(acme, first_name="Jane")
    task = activities.task_create(
        account=acme, actor=rep_user, title="Call Jane", record=jane, notes="About the renewal"
    )
    page = rep_client.get(f"/tasks/{task.pk}/").content.decode()
    assert "Call Jane" in page and "About the renewal" in page and "Jane" in page
    link = f'href="/tasks/{task.pk}/"'
    assert link in rep_client.get("/tasks/?view=all").content.decode()
    assert link in rep_client.get(f"/objects/contacts/{jane.pk}/").content.decode()
    response = rep_client.post(
        f"/tasks/{task.pk}/",
        {
            "title": "Call Jane back",
            "type": "call",
            "priority": "high",
            "assignee": rep_user.pk,
            "notes": "",
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.title, task.type) == ("Call Jane back", "call")
    rep_client.post(f"/tasks/{task.pk}/complete/", {"next": f"/tasks/{task.pk}/"})
    task.refresh_from_db()
    assert task.status == "completed"


def test_another_accounts_task_page_is_not_found(globex_client, acme, rep_user):
    task = activities.task_create(account=acme, actor=rep_user, title="Secret")
    assert globex_client.get(f"/tasks/{task.pk}/").status_code == 404
