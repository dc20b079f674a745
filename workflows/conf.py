"""Engine tunables, read at call time (never at import) so tests and benchmarks can set
them per process: a Django setting of the same name wins, then the environment (worker
subprocesses started by tests get short values that way), then the default."""

from __future__ import annotations

import os
from typing import TypeVar

from django.conf import settings

T = TypeVar("T", int, float, str)

DEFAULTS: dict[str, float] = {
    # A claimed execution whose lease was not renewed for this long is presumed lost
    # (worker killed, paused or cut off) and handed out again. A live worker renews the
    # leases of what it holds every WORKFLOWS_HEARTBEAT_SECONDS (workflows/engine/
    # heartbeat.py), so the lease bounds recovery time, not the length of a call.
    "WORKFLOWS_LEASE_SECONDS": 30.0,
    # How often a worker process renews its leases (at most a third of the lease).
    "WORKFLOWS_HEARTBEAT_SECONDS": 5.0,
    # PostgreSQL: a running step whose worker's heartbeat connection is gone (the
    # process was killed: PostgreSQL sees its socket close) and that missed two beats is
    # taken back without waiting for its lease (ledger.leases_recover). 0: leases only
    # (a pooler in transaction mode, where backend pids say nothing about a worker).
    "WORKFLOWS_DEAD_WORKER_CHECK": 1,
    # A stopping worker (SIGTERM) waits this long for calls in flight, then hands the
    # rest back (pending again at once, the attempt not counted). At most half the lease.
    "WORKFLOWS_SHUTDOWN_GRACE_SECONDS": 10.0,
    # A pending row whose wake-up message was published longer ago than this is re-sent
    # (the message was lost: Redis flushed, publish failed).
    "WORKFLOWS_RESEND_AFTER_SECONDS": 60.0,
    # A worker draining its queue also takes due rows whose message was published longer
    # ago than this and is still waiting behind others: under a backlog, the small
    # messages of many completions are run as a few big batches (their messages then
    # find nothing to do).
    "WORKFLOWS_STEAL_AFTER_SECONDS": 1.0,
    # Record ids per transaction of a fan-out (turning a workflow on): its cursor and
    # progress move by this much.
    "WORKFLOWS_FANOUT_WINDOW": 20000,
    # How often beat runs the sweeper (config/celery.py reads it).
    "WORKFLOWS_SWEEP_SECONDS": 5.0,
    # Rows the sweeper re-sends per run, so one run stays short.
    "WORKFLOWS_SWEEP_BATCH": 5000,
    # Transient errors (rate limits, 5xx, timeouts, connection errors) are retried with
    # backoff until this long after the step's first attempt, then it fails.
    "WORKFLOWS_RETRY_DEADLINE_SECONDS": 86400.0,
    # Unexpected errors (a bug, an unclassified failure) fail after this many attempts.
    "WORKFLOWS_MAX_ATTEMPTS": 5,
    # Poison-step guard: a step whose worker stopped (lease expired) this many times
    # while running it fails instead of killing more workers.
    "WORKFLOWS_MAX_WORKER_DEATHS": 3,
    # Exponential backoff for transient errors without Retry-After: base * 2^(attempt-1).
    "WORKFLOWS_BACKOFF_SECONDS": 10.0,
    "WORKFLOWS_BACKOFF_MAX_SECONDS": 3600.0,
    # The longest wait of a step postponed because something shared is busy
    # (Retry.BUSY: e.g. a monthly budget held by economy batches for hours).
    "WORKFLOWS_BUSY_MAX_SECONDS": 300.0,
    # Executions of batchable action types per Celery message, per claim and per
    # completion transaction (workflows/engine/runner.py, "Batches").
    "WORKFLOWS_BATCH_SIZE": 300,
    # How long one message's task keeps running next steps inline and claiming further
    # due batchable work of its queue before it returns (well under the Celery soft time
    # limit and the lease).
    "WORKFLOWS_BATCH_SECONDS": 5.0,
}


def tunable(name: str, default: T) -> T:
    """A tunable read as described above, converted to the default's type (other apps'
    tunables use it with their own defaults)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None:
        return default
    return type(default)(value)


def setting(name: str) -> float:
    return tunable(name, DEFAULTS[name])
