"""Lease heartbeats and a worker's stop request.

A worker process keeps the claims it holds ({execution id: attempt}) here, and a daemon
thread renews their leases every WORKFLOWS_HEARTBEAT_SECONDS with ONE conditional
UPDATE per attempt number (`ledger.leases_renew`: `running` and *this* attempt only).
So a lease can be short (WORKFLOWS_LEASE_SECONDS, 30 s) whatever a call lasts, and a
dead, paused or cut-off worker's steps are back in `pending` about one lease after its
last beat. Why the database and not a Redis key per worker: the ledger row is the
truth the sweeper and the claims already read; a lease kept elsewhere would be lost with
an emptied Redis (every running step would look dead at once) and the sweeper would
have to join two stores. One UPDATE per process every few seconds costs nothing next
to the claims.

The thread runs only in worker processes (`enable()` on Celery's worker_init and
worker_process_init; it starts with the process's first claim). Tests running the
engine in-process have none.

SIGTERM (a deploy, a scale-down): `stop_request()` marks the process as stopping. The
runner then claims nothing more and publishes the next steps it would have run
inline; a batch of outside calls waits at most WORKFLOWS_SHUTDOWN_GRACE_SECONDS for
what is in flight and hands the rest back (pending at once, the attempt not
counted). The process is made to exit no later than one lease after the request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterable
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_shutting_down

from workflows.conf import setting

logger = logging.getLogger(__name__)

_held: dict[int, int] = {}
_lock = threading.Lock()
_thread_pid: int | None = None
_enabled = False  # in worker processes only (see `enable`)
_pool_process = False  # a prefork pool process: SIGTERM is ours to handle (`hold`)
_stopping = threading.Event()
_wake = threading.Event()  # the thread's start: beat at once (it learns its owner pid)
# PostgreSQL: the backend pid of the heartbeat thread's connection, once it has one. A
# claim writes it on the rows it takes (`owner`), so a killed worker's rows are known
# as dead without an extra write per claim; each beat writes it again (a reconnection
# gives a new pid).
_owner_pid: int | None = None


def hold(rows: Iterable[tuple[int, int]]) -> None:
    """(execution id, attempt) claims this process now holds; the first claim of a
    worker process starts its heartbeat thread."""
    with _lock:
        _held.update(rows)
        if not _enabled or _thread_pid == os.getpid():
            return
    if _pool_process and threading.current_thread() is threading.main_thread():
        # Here, not at the pool process's start: billiard sets its own SIGTERM handler
        # after Celery's worker_process_init.
        sigterm_install()
    _start()


def release(execution_ids: Iterable[int]) -> None:
    with _lock:
        for pk in execution_ids:
            _held.pop(pk, None)


def held() -> dict[int, int]:
    with _lock:
        return dict(_held)


def owner_pid() -> int | None:
    """What a claim in this process writes as its rows' `owner`: the heartbeat
    connection's backend pid (None before this process's first beat, or elsewhere)."""
    return _owner_pid if _thread_pid == os.getpid() else None


def interval_seconds() -> float:
    """The beat: WORKFLOWS_HEARTBEAT_SECONDS, at most a third of the lease."""
    lease = setting("WORKFLOWS_LEASE_SECONDS")
    return max(min(setting("WORKFLOWS_HEARTBEAT_SECONDS"), lease / 3), 0.05)


def beat() -> int:
    """Renew the leases held now; returns how many rows were renewed. A row no longer
    ours (finished, or taken back after this process was paused past its lease) is not
    renewed and stops being held."""
    from workflows.engine import ledger

    claims = held()
    if not claims:
        return 0
    kept = ledger.leases_renew(claims)
    lost = set(claims) - kept
    if lost:
        release(lost)
    return len(kept)


def _run() -> None:
    from django.db import connection

    while True:
        _wake.wait(interval_seconds())
        _wake.clear()
        try:
            beat()
            _owner_learn(connection)
        except Exception:  # the database away for a moment: the next beat tries again
            logger.warning("lease heartbeat failed", exc_info=True)
            connection.close()


def _owner_learn(connection: Any) -> None:
    global _owner_pid
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    _owner_pid = connection.connection.info.backend_pid


def enable() -> None:
    """This process is a worker: its claims' leases get a heartbeat."""
    global _enabled
    _enabled = True


def _start() -> None:
    """Start this process's heartbeat thread (once per process)."""
    global _thread_pid
    with _lock:
        if _thread_pid == os.getpid():
            return
        _thread_pid = os.getpid()
    _wake.set()  # beat at once: the first claim's rows get their owner, claims learn it
    threading.Thread(target=_run, name="lease-heartbeat", daemon=True).start()


def _after_fork() -> None:
    """A forked pool process starts with no claims, no thread and no stop request."""
    global _lock, _thread_pid, _owner_pid
    _lock = threading.Lock()
    _thread_pid = None
    _owner_pid = None
    _held.clear()
    _stopping.clear()
    _wake.clear()


os.register_at_fork(after_in_child=_after_fork)


# --- Stopping -------------------------------------------------------------------------


def stopping() -> bool:
    """True once this worker process was asked to stop (SIGTERM)."""
    return _stopping.is_set()


def grace_seconds() -> float:
    """How long a stopping worker waits for calls in flight before handing them back."""
    return min(setting("WORKFLOWS_SHUTDOWN_GRACE_SECONDS"), setting("WORKFLOWS_LEASE_SECONDS") / 2)


def stop_request() -> None:
    """Stop claiming work and hand back what cannot finish in time; exit no later than
    one lease from now whatever happens (what is still held then comes back through the
    lease, counted as a worker stop)."""
    if _stopping.is_set():
        return
    _stopping.set()
    logger.info("stop requested: finishing or handing back %d claimed step(s)", len(held()))
    timer = threading.Timer(setting("WORKFLOWS_LEASE_SECONDS"), os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def sigterm_install() -> None:
    """In a pool process: SIGTERM asks it to stop as above (the main process forwards
    its own SIGTERM, and a service manager may signal the whole group: both are one
    request; the exit timer bounds it)."""

    def handle(signum: int, frame: Any) -> None:
        stop_request()

    signal.signal(signal.SIGTERM, handle)


# --- Wiring to Celery's worker signals ------------------------------------------------


def _on_pool_process_init(**kwargs: Any) -> None:
    """A prefork pool process: heartbeats, and SIGTERM asks it to stop (see `hold`)."""
    global _pool_process
    enable()
    _pool_process = True


def _on_worker_init(**kwargs: Any) -> None:
    """The worker's main process (where solo and thread pools run tasks)."""
    enable()


def _on_worker_shutting_down(**kwargs: Any) -> None:
    """Warm shutdown (SIGTERM to the main process): pass the stop request on to the pool
    processes, which a service manager that signals the main process only would leave
    running their tasks to the end."""
    from billiard.process import active_children

    children = [child.pid for child in active_children() if child.pid]
    if not children:  # solo or thread pool: the tasks run in this process
        stop_request()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


# Connected by a call, not as decorators: Celery's signals are untyped.
worker_process_init.connect(_on_pool_process_init, dispatch_uid="workflows.heartbeat.pool")
worker_init.connect(_on_worker_init, dispatch_uid="workflows.heartbeat.init")
worker_shutting_down.connect(_on_worker_shutting_down, dispatch_uid="workflows.heartbeat.stop")
