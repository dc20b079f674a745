"""Idle session timeout: a session unused for SESSION_IDLE_TIMEOUT_MINUTES is signed out."""

from __future__ import annotations

import time

import pytest

from crm.idle import LAST_SEEN

pytestmark = pytest.mark.django_db


def _age_session(client, seconds: int) -> None:
    session = client.session
    session[LAST_SEEN] = int(time.time()) - seconds
    session.save()


def test_an_idle_session_is_signed_out(admin_client, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    assert admin_client.get("/settings/").status_code == 200
    _age_session(admin_client, 31 * 60)
    response = admin_client.get("/settings/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_active_session_stays_signed_in(admin_client, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    _age_session(admin_client, 29 * 60)
    assert admin_client.get("/settings/").status_code == 200
    # That request counted as activity: the session is fresh again.
    assert int(time.time()) - admin_client.session[LAST_SEEN] < 5  # not a speed target


def test_zero_turns_the_timeout_off(admin_client, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 0
    _age_session(admin_client, 10 * 24 * 3600)
    assert admin_client.get("/settings/").status_code == 200
