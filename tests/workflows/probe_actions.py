"""A test-only action type, registered like an integration would register its own.

Imported by the tests and, with `celery worker --include tests.workflows.probe_actions`,
by real worker processes. Each execute() appends "<execution id>:<attempt>" to the file
named in its config, so tests can count how many times the action really ran.

config: {"log": path, "response": text, "sleep": seconds, "sleep_on_attempt": n,
         "sleep_until_attempt": n (sleep on every attempt up to n),
         "fail": "transient" | "permanent" | "later" | "crash", "fail_times": n,
         "retry_after": seconds, "fail_while_missing": path (permanent error until it exists),
         "take_over_if": first name (while executing for that record, another worker takes
         the claim over: the row's attempt moves on), "apply_fail_if": first name (apply()
         raises a permanent error for that record)}
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

from django.utils import timezone

from crm.models import Task
from workflows.outcomes import PermanentError, RetryLater, TransientError
from workflows.registry import ActionType, Output, register


@register
class Probe(ActionType):
    key = "test_probe"
    label = "Probe (tests)"
    section = "tests"
    outputs = (Output("response", "Response"),)

    def execute(self, context):
        config = context.config
        if config.get("log"):
            with Path(config["log"]).open("a") as log:
                log.write(f"{context.execution_id}:{context.attempt}\n")
        if config.get("log_backend"):  # the PostgreSQL backend serving this task
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            with Path(config["log_backend"]).open("a") as log:
                log.write(f"{pid}\n")
        if config.get("kill_worker"):
            os.kill(os.getpid(), signal.SIGKILL)
        if config.get("take_over_if") and _first_name(context) == config["take_over_if"]:
            from workflows.models import ActionExecution

            ActionExecution.objects.filter(pk=context.execution_id).update(
                attempt=context.attempt + 1
            )
        if config.get("sleep") and (
            context.attempt == int(config.get("sleep_on_attempt", 1))
            or context.attempt <= int(config.get("sleep_until_attempt", 0))
        ):
            time.sleep(float(config["sleep"]))
        if config.get("fail_while_missing") and not Path(config["fail_while_missing"]).exists():
            raise PermanentError("The API key was revoked.")
        if context.attempt <= int(config.get("fail_times", 0)):
            fail = config.get("fail")
            if fail == "transient":
                raise TransientError(
                    "The service is busy (503).", retry_after=config.get("retry_after", 0)
                )
            if fail == "permanent":
                raise PermanentError("The API key was revoked.")
            if fail == "later":
                raise RetryLater(
                    timezone.now() + dt.timedelta(seconds=float(config.get("retry_after", 0)))
                )
            if fail == "crash":
                raise RuntimeError("boom")
        return {"response": config.get("response", "")}

    def apply(self, context, outputs):
        if context.config.get("apply_fail_if") and (
            _first_name(context) == context.config["apply_fail_if"]
        ):
            raise PermanentError(f"Broken for {_first_name(context)}.")
        # The side effect, keyed by the execution id (like the built-in actions).
        Task.objects.get_or_create(
            idempotency_key=context.idempotency_key,
            defaults={"account": context.account, "title": f"probe {context.step_id}"},
        )
        return outputs


def _first_name(context) -> str:
    return str(context.record.properties.get("first_name", ""))


@register
class BatchableProbe(Probe):
    """The same, declared batchable: its executions share messages and transactions."""

    key = "test_probe_batchable"
    label = "Batchable probe (tests)"
    batchable = True
