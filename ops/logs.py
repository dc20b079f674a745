"""Log lines that say whose they are, in plain text or JSON (LOG_FORMAT=json).

Context variables hold the request id, the account id and the execution id of what the
current thread (or asyncio task) is doing; `ContextFilter`, on the console handler,
copies them onto every record, so a line written deep in a service or an action carries
them without being passed anything:

- a web request: `RequestContextMiddleware` (request id from a valid incoming
  X-Request-ID header, which a proxy may set, or a new one; sent back in the response;
  the account of the logged-in user);
- a step: the engine runs each execution inside `log_context(execution_id=…,
  account_id=…)` (workflows/engine/runner.py), and Celery tasks that run one execution
  get its id from the task's arguments (`celery_signals_connect`).

`QuietSweepFilter` keeps the sweeper's routine lines (beat sending it every 5 seconds, a
worker receiving and finishing it) out of INFO logs; they still show at DEBUG.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

FIELDS = ("request_id", "account_id", "execution_id")
_vars: dict[str, ContextVar[Any]] = {name: ContextVar(name, default=None) for name in FIELDS}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SWEEP_TASK = "workflows.sweep"


@contextlib.contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Lines logged inside carry these fields (request_id, account_id, execution_id)."""
    tokens = [(_vars[name], _vars[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def log_context_of(execution: Any) -> contextlib.AbstractContextManager[None]:
    """The log context of an ActionExecution (its workflow loaded); none for None."""
    if execution is None:
        return contextlib.nullcontext()
    return log_context(execution_id=execution.pk, account_id=execution.workflow.account_id)


def context_values() -> dict[str, Any]:
    return {name: var.get() for name, var in _vars.items()}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context_values().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class QuietSweepFilter(logging.Filter):
    """Drops the INFO lines Celery writes for every sweeper tick (unless the root logger
    is at DEBUG)."""

    LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in self.LOGGERS:
            return True
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        args = record.args
        values = args.values() if isinstance(args, dict) else (args or ())
        return SWEEP_TASK not in {str(v) for v in values}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            line[name] = getattr(record, name, None)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class PlainFormatter(logging.Formatter):
    """The plain format, with the context fields that are set appended as key=value."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        text = super().formatMessage(record)
        extra = " ".join(
            f"{name}={value}"
            for name in FIELDS
            if (value := getattr(record, name, None)) is not None
        )
        return f"{text} [{extra}]" if extra else text


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """Django's LOGGING for LOG_FORMAT ("plain" or "json") and LOG_LEVEL."""
    formatter = (
        {"()": "ops.logs.JSONFormatter"}
        if fmt == "json"
        else {"()": "ops.logs.PlainFormatter", "format": "%(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "ops.logs.ContextFilter"},
            "quiet_sweep": {"()": "ops.logs.QuietSweepFilter"},
        },
        "formatters": {"line": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["context", "quiet_sweep"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.server": {"level": "WARNING"}},
    }


class RequestContextMiddleware:
    """Sets the request id and the account id for everything the request logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        user = getattr(request, "user", None)
        account_id = getattr(user, "account_id", None) if user is not None else None
        with log_context(request_id=request_id, account_id=account_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


# --- Celery tasks -----------------------------------------------------------------------

_task_tokens: dict[str, Any] = {}


def _task_prerun(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
    from workflows.engine.publish import RUN_TASK

    if task_id and getattr(task, "name", None) == RUN_TASK and args:
        _task_tokens[task_id] = _vars["execution_id"].set(args[0])


def _task_postrun(task_id: str | None = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        with contextlib.suppress(ValueError):
            _vars["execution_id"].reset(token)


def celery_signals_connect() -> None:
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_prerun, dispatch_uid="ops.logs.task_prerun", weak=False)
    task_postrun.connect(_task_postrun, dispatch_uid="ops.logs.task_postrun", weak=False)
