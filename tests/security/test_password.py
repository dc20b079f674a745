"""Password change (signed in) and reset by email (signed out)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from crm.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a brand new long passphrase 42"


def test_a_user_changes_their_password(rep_client, rep_user):
    page = rep_client.get("/password/change/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    wrong = rep_client.post(
        "/password/change/",
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    assert "old password was entered incorrectly" in wrong.content.decode()
    response = rep_client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your password was changed." in response.content.decode()
    rep_user.refresh_from_db()
    assert rep_user.check_password(NEW_PASSWORD)
    # Still signed in on this browser.
    assert rep_client.get("/settings/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_CHANGED, actor=rep_user).exists()


def test_a_user_resets_a_forgotten_password_by_email(rep_user, settings):
    settings.SITE_URL = "https://crm.example.com"
    client = Client()
    assert "Forgot your password?" in client.get("/login/").content.decode()
    response = client.post("/password/reset/", {"email": "rep@example.com"})
    assert response.status_code == 302 and response["Location"] == "/password/reset/sent/"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["rep@example.com"] and email.subject == "Reset your crmflow password"
    link = re.search(r"https://crm\.example\.com(/password/reset/\S+/)", email.body).group(1)

    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/password/reset/done/"
    signed_in = client.post("/login/", {"username": "rep", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert AuditEvent.objects.filter(
        action=AuditAction.PASSWORD_CHANGED, actor=rep_user, detail__by="email_reset"
    ).exists()
    # The link works once.
    used = Client().get(link, follow=True).content.decode()
    assert "This link does not work any more" in used


def test_an_unknown_address_gets_the_same_answer_and_no_email(db):
    response = Client().post("/password/reset/", {"email": "nobody@example.com"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_the_reset_email_is_in_french(rep_user):
    Client(HTTP_ACCEPT_LANGUAGE="fr").post("/password/reset/", {"email": "rep@example.com"})
    assert mail.outbox[0].subject == "Réinitialiser votre mot de passe crmflow"
