"""The Celery application.

Celery messages are wake-up calls that carry an id, never the truth: the database
ledger is. These settings make a lost worker or a lost message cost time, not work
(see ../DESIGN.md "Celery settings that matter" and docs/architecture.md).
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery's Django fixup runs the system checks when a worker starts, and the URL checks
# import every view, form and template tag of the web (~5 MB in each worker process,
# docs/operations.md "Processes and memory"). `crmflow check` and the web run them.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("crmflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection before and after each task
# unless this is set; ops/db.py closes only the old or broken ones instead, as Django
# does around a request (CONN_MAX_AGE).
app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000_000

# Longest task we run: an OpenAI call with its own 120 s deadline plus bookkeeping.
TASK_SOFT_TIME_LIMIT = 150
TASK_TIME_LIMIT = 180
# How often beat runs the workflow sweeper; tests and benchmarks shorten it.
_SWEEP_SECONDS = float(os.environ.get("WORKFLOWS_SWEEP_SECONDS", "5"))

app.conf.update(
    # "sweep" carries only beat's sweeper ticks and every worker consumes it next to its
    # own queue: behind a backlog of thousands of `default` messages a tick would wait
    # (and expire) while postponed OpenAI calls on `assistant` starved.
    task_queues=[Queue("default"), Queue("assistant"), Queue("sweep")],
    task_default_queue="default",
    # Acknowledge after the task ran, and give the message back if the worker died:
    # a killed worker's message is delivered again (the ledger makes that harmless).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    task_time_limit=TASK_TIME_LIMIT,
    # Redis redelivers an unacknowledged message after the visibility timeout; it must
    # be longer than any task, or a slow task would run twice.
    broker_transport_options={
        "visibility_timeout": TASK_TIME_LIMIT * 4,
        "health_check_interval": 10,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    },
    broker_connection_retry_on_startup=True,
    # A message that cannot be published is not fatal (the sweeper re-sends from the
    # ledger), so a publish gives up quickly instead of blocking a web request.
    task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
    # One beat sends, however many are started (ops/beat.py).
    beat_scheduler="ops.beat:LockedScheduler",
    timezone="UTC",
    # Periodic jobs; each is safe to run twice. Apps add theirs in their tasks modules.
    beat_schedule={
        # The workflow ledger's sweeper (workflows/engine/sweeper.py): re-sends lost wake-ups,
        # recovers expired leases, publishes delays that fell due. On its own queue, which
        # every worker also consumes; expires so ticks never pile up.
        "workflows-sweep": {
            "task": "workflows.sweep",
            "schedule": _SWEEP_SECONDS,
            "options": {"queue": "sweep", "expires": _SWEEP_SECONDS * 2},
        },
    },
)
app.autodiscover_tasks()
