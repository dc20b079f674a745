"""Find-or-create by a property (the public form, Webhook received): two requests that
bring the same new value at the same moment make one record, and requests bringing
different values are not queued behind each other."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from crm.models import Account, ObjectType, Record
from crm.services import record_upsert

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent writers need PostgreSQL (SQLite runs one write transaction at a time)",
)


def _upsert_in_thread(account, email, *, hold=0.0, started=None, results=None):
    try:
        with transaction.atomic():
            record, created = record_upsert(
                account=account,
                object_type=ObjectType.CONTACT,
                match="email",
                values={"email": email, "first_name": "Ann"},
            )
            if started is not None:
                started.set()
            time.sleep(hold)
        results.append(created)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_the_same_new_email_at_once_make_one_contact():
    account = Account.objects.create(name="Acme")
    first_in, results = threading.Event(), []
    first = threading.Thread(
        target=_upsert_in_thread,
        args=(account, "ann@example.com"),
        kwargs={"hold": 0.5, "started": first_in, "results": results},
    )
    first.start()
    assert first_in.wait(10)
    # The first transaction has created Ann and not committed yet; the same email,
    # typed differently, arrives now.
    second = threading.Thread(
        target=_upsert_in_thread, args=(account, "ANN@example.com"), kwargs={"results": results}
    )
    second.start()
    first.join(10)
    second.join(10)

    assert sorted(results) == [False, True]
    assert Record.objects.filter(account=account, email="ann@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_different_email_is_not_held_up_by_an_open_upsert():
    account = Account.objects.create(name="Acme")
    first_in, results = threading.Event(), []
    first = threading.Thread(
        target=_upsert_in_thread,
        args=(account, "ann@example.com"),
        kwargs={"hold": 3.0, "started": first_in, "results": results},
    )
    first.start()
    assert first_in.wait(10)
    began = time.monotonic()
    second = threading.Thread(
        target=_upsert_in_thread, args=(account, "bob@example.com"), kwargs={"results": results}
    )
    second.start()
    second.join(10)
    waited = time.monotonic() - began
    first.join(10)

    assert results == [True, True]
    assert waited < 2.5  # the other email did not wait for the first commit  # not a speed target
