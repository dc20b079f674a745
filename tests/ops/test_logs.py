"""Log lines carry the request id, account id and execution id of what wrote them, in
plain text or JSON (ops/logs.py); the sweeper's routine lines stay out of INFO."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest
from celery.app import trace
from django.test import Client

from config.embedded_redis import free_port
from ops.logs import JSONFormatter
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def console(*, json_lines: bool):
    """The console handler the settings configured (its filters too), writing here."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    old_stream, old_formatter = handler.setStream(stream), handler.formatter
    if json_lines:
        handler.setFormatter(JSONFormatter())
    try:
        yield stream
    finally:
        handler.setStream(old_stream)
        handler.setFormatter(old_formatter)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_line_has_the_request_id_and_the_account_id(admin_user, admin_client, settings):
    settings.METRICS_TOKEN = "t0ken"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # /metrics logs why
    with console(json_lines=True) as stream:
        response = admin_client.get(
            "/metrics", HTTP_AUTHORIZATION="Bearer t0ken", HTTP_X_REQUEST_ID="req-42"
        )
    assert response.status_code == 200 and response["X-Request-ID"] == "req-42"
    [line] = [x for x in lines(stream) if x["logger"] == "ops.metrics"]
    assert line["request_id"] == "req-42"
    assert line["account_id"] == admin_user.account_id
    assert line["execution_id"] is None
    assert line["level"] == "WARNING" and "Redis" in line["message"] and "exc_info" in line


def test_a_request_without_a_usable_id_gets_a_new_one(settings):
    settings.METRICS_TOKEN = "t0ken"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    with console(json_lines=True) as stream:
        response = Client().get(
            "/metrics", HTTP_AUTHORIZATION="Bearer t0ken", HTTP_X_REQUEST_ID="bad id\nnewline"
        )
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and "\n" not in request_id
    [line] = [x for x in lines(stream) if x["logger"] == "ops.metrics"]
    assert line["request_id"] == request_id and line["account_id"] is None


def test_a_step_line_has_the_execution_id_and_the_account_id(acme, tmp_path):
    make_workflow(acme, chain({"type": "test_probe", "config": {"fail": "crash", "fail_times": 1}}))
    contact(acme, first_name="Ann")
    with console(json_lines=True) as stream:
        drain()
    execution = ActionExecution.objects.get()
    written = [x for x in lines(stream) if x["logger"].startswith("workflows")]
    assert written, "the crash is logged"
    assert all(x["execution_id"] == execution.pk for x in written)
    assert all(x["account_id"] == acme.pk for x in written)
    assert all(x["request_id"] is None for x in written)


def test_the_plain_format_appends_the_fields_that_are_set(acme):
    make_workflow(acme, chain({"type": "test_probe", "config": {"fail": "crash", "fail_times": 1}}))
    contact(acme, first_name="Ann")
    with console(json_lines=False) as stream:
        drain()
    execution = ActionExecution.objects.get()
    first = stream.getvalue().splitlines()[0]
    assert first == (
        "ERROR workflows.outcomes: an action raised "
        f"[account_id={acme.pk} execution_id={execution.pk}]"
    )


def test_the_sweepers_routine_lines_are_not_at_info_but_other_tasks_are():
    success = {"id": "abc", "name": "workflows.sweep", "return_value": {}, "runtime": 0.01}
    other = {**success, "name": "workflows.run_execution"}
    with console(json_lines=True) as stream:
        trace.info(trace.LOG_SUCCESS, success)
        trace.info(trace.LOG_SUCCESS, other)
        logging.getLogger("celery.beat").info(
            "Scheduler: Sending due task %s (%s)", "workflows-sweep", "workflows.sweep"
        )
    messages = [x["message"] for x in lines(stream)]
    assert messages == ["Task workflows.run_execution[abc] succeeded in 0.01s: {}"]
