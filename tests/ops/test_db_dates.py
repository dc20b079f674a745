"""Dates read back from PostgreSQL through ops.db's loader (psycopg's C parser) are the
values Django writes: aware, in Django's UTC tzinfo, to the microsecond."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from crm.models import Task

pytestmark = pytest.mark.django_db
TIMESTAMPTZ_OID = 1184


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's date loader")
def test_dates_read_back_from_postgresql_are_the_aware_values_written(acme):
    paris = dt.timezone(dt.timedelta(hours=1))
    written = [
        dt.datetime(2026, 12, 3, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(1999, 1, 1, 0, 30, 0, 1, tzinfo=paris),
        dt.datetime(2400, 2, 29, 12, 0, tzinfo=dt.UTC),
    ]
    for when in written:
        Task.objects.create(account=acme, title=str(when), due_at=when)
    read = list(Task.objects.order_by("pk").values_list("due_at", flat=True))
    assert read == written
    assert all(value.tzinfo is dt.UTC for value in read)
    # …through the C parser: Django's own loader parses in Python.
    from psycopg.pq import Format

    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert loader.__name__ == "FastTzLoader"
