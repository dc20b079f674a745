"""Database connection set-up.

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
