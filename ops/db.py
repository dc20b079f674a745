"""Database connection set-up.

Workers keep their connection between tasks as the web does between requests
(`celery_connections_keep`): Celery's Django fix-up closes every connection before and
after each task, so each small task (a webhook's inbox batch, a step's wake-up) paid a
new PostgreSQL backend. Django's own rule then applies at each task's start and end:
a connection older than CONN_MAX_AGE, or broken, is closed (a pooled one goes back).

Django's psycopg backend reads every `timestamptz` through a loader written in Python
(`BaseTzLoader`, a subclass of psycopg's pure-Python loader), though psycopg ships a C
one: reading 300 ledger rows spent a quarter of its time parsing their eight dates. On
each new PostgreSQL connection whose time zone is Django's, `fast_tz_loader` registers a
loader that parses with psycopg's C loader and sets the same time zone as Django's would
(the values are equal, aware, in the same tzinfo)."""

from __future__ import annotations

from typing import Any

from django.db.backends.signals import connection_created
from django.dispatch import receiver


def _loader_class(timezone: Any) -> type | None:
    try:
        from django.db.backends.postgresql.psycopg_any import BaseTzLoader
        from psycopg import _cmodule
    except ImportError:  # psycopg 2, or psycopg without its C module
        return None
    fast: Any = getattr(_cmodule._psycopg, "TimestamptzLoader", None)
    if fast is None:
        return None

    class FastTzLoader(BaseTzLoader):
        def __init__(self, oid: int, context: Any = None):
            super().__init__(oid, context)
            self._fast = fast(oid, context)

        def load(self, data: Any) -> Any:
            return self._fast.load(data).replace(tzinfo=self.timezone)

    FastTzLoader.timezone = timezone
    return FastTzLoader


_loaders: dict[Any, type | None] = {}


@receiver(connection_created, dispatch_uid="ops.db.fast_tz_loader")
def fast_tz_loader(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "postgresql" or not hasattr(connection.connection, "adapters"):
        return
    timezone = connection.timezone
    if timezone not in _loaders:
        _loaders[timezone] = _loader_class(timezone)
    loader = _loaders[timezone]
    if loader is not None:
        connection.connection.adapters.register_loader("timestamptz", loader)


def celery_connections_keep() -> None:
    """Before and after each task, Django's `close_old_connections` (CONN_MAX_AGE and
    health checks) instead of Celery's close-everything; config/celery.py sets
    CELERY_DB_REUSE_MAX so the fix-up leaves them open."""
    from celery.signals import task_postrun, task_prerun
    from django.db import close_old_connections

    def close_old(**kwargs: Any) -> None:
        close_old_connections()

    task_prerun.connect(close_old, dispatch_uid="ops.db.task_prerun", weak=False)
    task_postrun.connect(close_old, dispatch_uid="ops.db.task_postrun", weak=False)
