"""Dates in the reader's time zone and their locale's one format: a user's own time zone,
else the account's, else the server's; set in Settings › General."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from crm.models import Task

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
DUE = dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC)


def due_task(acme, rep_user) -> Task:
    return Task.objects.create(account=acme, title="Call back", assignee=rep_user, due_at=DUE)


@pytest.mark.parametrize(
    ("language", "shown"),
    [("en", "Dec 4, 2026, 08:30"), ("fr", "4 déc. 2026, 08:30")],
)
def test_a_due_date_shows_in_the_users_time_zone_and_format(
    rep_client, acme, rep_user, language, shown
):
    task = due_task(acme, rep_user)
    rep_user.time_zone = "Asia/Tokyo"
    rep_user.save()
    page = rep_client.get(f"/tasks/{task.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    assert shown in page.content.decode()


def test_without_a_choice_the_accounts_time_zone_then_the_servers_is_used(
    rep_client, acme, rep_user, settings
):
    settings.TIME_ZONE = "UTC"
    task = due_task(acme, rep_user)
    assert "Dec 3, 2026, 23:30" in rep_client.get(f"/tasks/{task.pk}/").content.decode()
    acme.time_zone = "America/New_York"
    acme.save()
    assert "Dec 3, 2026, 18:30" in rep_client.get(f"/tasks/{task.pk}/").content.decode()


def test_a_user_sets_their_time_zone_in_settings(rep_client, acme, rep_user):
    task = due_task(acme, rep_user)
    page = rep_client.get("/settings/").content.decode()
    assert "Your time zone" in page and "Account time zone" not in page
    response = rep_client.post("/settings/", {"time_zone": "Europe/Paris", "save": "1"})
    assert response.status_code == 302
    rep_user.refresh_from_db()
    assert rep_user.time_zone == "Europe/Paris"
    assert "Dec 4, 2026, 00:30" in rep_client.get(f"/tasks/{task.pk}/").content.decode()


def test_an_unknown_time_zone_is_refused_with_a_message(rep_client, rep_user):
    response = rep_client.post("/settings/", {"time_zone": "Mars/Olympus", "save": "1"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    rep_user.refresh_from_db()
    assert rep_user.time_zone == ""


def test_a_super_admin_sets_the_accounts_time_zone(admin_client, acme):
    response = admin_client.post(
        "/settings/", {"time_zone": "", "account_time_zone": "Europe/Paris", "save": "1"}
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.time_zone == "Europe/Paris"


def test_a_date_time_typed_by_a_user_is_read_in_their_time_zone(rep_client, acme, rep_user):
    rep_user.time_zone = "Europe/Paris"
    rep_user.save()
    response = rep_client.post(
        "/tasks/new/",
        {"title": "Lunch", "type": "todo", "priority": "none", "due_at": "2026-07-01T12:00"},
    )
    assert response.status_code == 302
    assert Task.objects.get(title="Lunch").due_at == dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)


def test_templates_use_the_locales_named_formats():
    """No hand-written date pattern in a template: the named formats of config/formats/
    (or a machine value for an <input>, 'Y-m-d')."""
    pattern = re.compile(r"""\|date:["']([^"']*)["']|\{% now ["']([^"']*)["']""")
    allowed = {"Y-m-d", "c"}
    found = []
    for path in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in path.parts:
            continue
        for match in pattern.finditer(path.read_text()):
            name = match.group(1) or match.group(2)
            if name not in allowed and not re.fullmatch(r"[A-Z_]+_FORMAT", name):
                found.append(f"{path.relative_to(ROOT)}: {name}")
    assert found == []
