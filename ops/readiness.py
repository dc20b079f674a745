"""Is this process ready for traffic? The database answers, its schema has every
migration this code ships, Redis answers. Never raises."""

from __future__ import annotations

import logging

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from workflows.engine.health import redis_client

logger = logging.getLogger(__name__)

# Once every migration is seen applied, this process does not read the plan again
# (migrations are applied before processes of a new version start: docs/operations.md).
_migrated = False


def database_ready() -> bool:
    global _migrated
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrated:
            executor = MigrationExecutor(connection)
            _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        return _migrated
    except Exception:
        logger.warning("readiness: the database is not ready", exc_info=True)
        return False


def redis_ready() -> bool:
    try:
        with redis_client() as client:
            return bool(client.ping())
    except Exception:
        logger.warning("readiness: Redis does not answer", exc_info=True)
        return False


def ready() -> bool:
    return database_ready() and redis_ready()
