"""The "Send a webhook" action against a real local HTTP server, run by the ledger."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Task
from marketplace.integrations.webhooks.signing import signature_verify
from tests.integrations.webhooks.conftest import (
    chain,
    contact,
    drain,
    make_workflow,
    send_step,
    task_step,
)
from workflows import registry
from workflows.models import ActionExecution

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def the_execution(step_id: int = 1) -> ActionExecution:
    return ActionExecution.objects.get(step_id=step_id)


def docs_example():
    """The verification example of docs/webhooks.md, as a receiver would paste it."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)[1]
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - our own documentation
    return scope["verified"]


def test_a_request_carries_the_resolved_json_its_signature_and_its_delivery_id(
    acme, installed, receiver, local_allowed
):
    make_workflow(
        acme,
        chain(
            send_step(
                receiver.url("/leads?src=crm"),
                headers="X-Lead: {{ object.first_name }}\nAuthorization: Bearer s3cret",
                body='{"name": "{{ object.first_name }}", "note": "{{ object.last_name }}", "n": 1}',
            )
        ),
    )
    contact(acme, first_name="Ann", last_name='The "Best"\nline two')
    drain()

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/leads?src=crm")
    # A value with quotes stays valid JSON.
    assert request.json() == {"name": "Ann", "note": 'The "Best" line two', "n": 1}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-lead"] == "Ann"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    signature = request.headers["x-crmflow-signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", signature)
    assert signature_verify(installed, request.body, signature)
    assert docs_example()(installed, request.body, signature)
    assert not docs_example()("whsec_another", request.body, signature)
    assert not signature_verify(installed, request.body + b" ", signature)
    execution = the_execution()
    assert request.headers["x-crmflow-delivery"] == f"exec:{execution.pk}"
    assert execution.status == "succeeded"
    assert execution.outputs["status"] == 200
    # The run keeps what was sent.
    assert execution.inputs["body"] == request.body.decode()


def test_5xx_and_timeouts_are_retried_with_the_ledgers_backoff_then_succeed(
    acme, installed, receiver, local_allowed, settings
):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receiver.reply(503, "Service Unavailable\nback soon")
    receiver.reply(200, {"late": True}, delay=1.5)  # answers after our deadline
    receiver.reply(200, {"ok": True})
    make_workflow(acme, chain(send_step(receiver.url(), body='{"a": 1}')))
    contact(acme, first_name="Ann")

    started = timezone.now()
    drain()  # the first attempt: 503
    execution = the_execution()
    assert execution.status == "pending" and execution.attempt == 1
    assert "503" in execution.error and "back soon" in execution.error
    # The ledger's backoff: base × 2^(attempt-1), with jitter on half of it.
    delay = (execution.due_at - started).total_seconds()
    assert 0.05 <= delay <= 0.2 + 1

    drain(now_shift=dt.timedelta(0))  # the second: no answer in time, then the third
    execution = the_execution()
    assert execution.status == "succeeded" and execution.attempt == 3
    assert [a["kind"] for a in execution.attempts] == ["retry", "retry"]
    assert "No answer from 127.0.0.1 within 0.5 s" in execution.attempts[1]["error"]
    assert len(receiver.requests) == 3
    # One delivery id for every attempt of one execution: receivers dedupe on it.
    assert {r.headers["x-crmflow-delivery"] for r in receiver.requests} == {f"exec:{execution.pk}"}


def test_a_429_waits_as_long_as_its_retry_after_says(acme, installed, receiver, local_allowed):
    receiver.reply(429, "slow down", headers={"Retry-After": "120"})
    make_workflow(acme, chain(send_step(receiver.url())))
    contact(acme, first_name="Ann")
    before = timezone.now()
    drain()
    execution = the_execution()
    assert execution.status == "pending"
    # Retry-After, plus up to 20 % jitter so that many waiting steps do not return at once.
    assert 119 <= (execution.due_at - before).total_seconds() <= 120 * 1.2 + 2


def test_a_4xx_fails_at_once_with_the_status_and_the_bodys_first_lines(
    acme, installed, receiver, local_allowed
):
    receiver.reply(422, "email is missing\nname is too long\nsee the docs\nline four")
    make_workflow(acme, chain(send_step(receiver.url()), task_step("never")))
    contact(acme, first_name="Ann")
    drain()
    execution = the_execution()
    assert execution.status == "failed" and execution.attempt == 1
    assert "422 Unprocessable Entity" in execution.error
    assert "email is missing / name is too long / see the docs" in execution.error
    assert "line four" not in execution.error
    assert not Task.objects.exists()


def test_a_private_address_is_refused_without_the_setting(
    acme, installed, receiver, local_allowed, settings
):
    make_workflow(acme, chain(send_step(receiver.url())))
    del settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES
    contact(acme, first_name="Ann")
    drain()
    execution = the_execution()
    assert execution.status == "failed"
    assert "127.0.0.1 is a private or reserved address" in execution.error
    assert receiver.requests == []
    # A name that resolves to a loopback address is refused the same way.
    action = registry.get("send_webhook")
    assert action.validate_config(
        {"method": "POST", "url": f"http://localhost:{receiver.port}/"},
        account=acme,
        object_type="contact",
    )
    make_workflow(acme, chain(send_step(f"http://localhost:{receiver.port}/")))
    contact(acme, first_name="Bob")
    drain()
    failed = ActionExecution.objects.filter(status="failed").order_by("pk").last()
    assert "localhost is a private or reserved address" in failed.error
    assert receiver.requests == []


def test_the_builder_refuses_a_literal_private_address_unless_allowed(acme, settings):
    action = registry.get("send_webhook")
    for url in ("http://10.0.0.5/x", "http://[::1]:8000/", "http://169.254.169.254/latest"):
        with pytest.raises(ValidationError, match="private or reserved"):
            action.validate_config(
                {"method": "POST", "url": url}, account=acme, object_type="contact"
            )
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = "10.0.0.0/8"
    assert (
        action.validate_config(
            {"method": "POST", "url": "http://10.0.0.5/x"}, account=acme, object_type="contact"
        )["url"]
        == "http://10.0.0.5/x"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "ftp://example.com/"}, "starting with https://"),
        ({"url": "/relative"}, "starting with https://"),
        ({"url": "https://user:pw@example.com/"}, "not in the URL"),
        ({"url": "https://example.com/", "headers": "no colon here"}, "line 1: write it as"),
        ({"url": "https://example.com/", "headers": "Host: evil"}, "crmflow sets Host itself"),
        ({"url": "https://example.com/", "body": '{"a": {{ object.id }}}'}, "inside quotes"),
        ({"url": "https://example.com/", "body": "[1,"}, "not valid JSON"),
        ({"url": "https://example.com/", "method": "GET", "body": "{}"}, "GET request has no body"),
        ({"url": "https://example.com/", "response_fields": "score: decimal"}, "line 1"),
        ({"url": "https://example.com/", "response_fields": "status: number"}, "already an output"),
    ],
)
def test_the_builder_explains_what_is_wrong_with_a_step(acme, config, message):
    config.setdefault("method", "POST")
    with pytest.raises(ValidationError) as raised:
        registry.get("send_webhook").validate_config(config, account=acme, object_type="contact")
    assert any(message in text for text in raised.value.messages), raised.value.messages


def test_the_answers_json_fields_feed_an_if_then_branch(acme, installed, receiver, local_allowed):
    graph = {
        "start": 1,
        "steps": {
            "1": {
                **send_step(
                    receiver.url(), response_fields="score: number\ntier: text\nvip: boolean"
                ),
                "next": 2,
            },
            "2": {
                "type": "branch",
                "next": None,
                "config": {
                    "paths": [
                        {
                            "name": "Hot",
                            "groups": [[{"output": "1.score", "operator": "gt", "value": "50"}]],
                            "next": 3,
                        }
                    ],
                    "none_next": 4,
                },
            },
            "3": {**task_step("Hot {{ actions.1.tier }} {{ actions.1.vip }}"), "next": None},
            "4": {**task_step("Cold {{ actions.1.score }}"), "next": None},
        },
    }
    make_workflow(acme, graph)
    receiver.reply(200, {"score": 87, "tier": "gold", "vip": True, "extra": "ignored"})
    receiver.reply(200, {"score": "12", "tier": None})
    contact(acme, first_name="Ann")
    drain()
    contact(acme, first_name="Bob")
    drain()
    assert sorted(Task.objects.values_list("title", flat=True)) == ["Cold 12", "Hot gold true"]
    first = ActionExecution.objects.filter(step_id=1).order_by("pk").first()
    assert first.outputs["score"] == 87 and first.outputs["vip"] is True
    assert "extra" not in first.outputs
    outputs = registry.get("send_webhook").outputs_for(
        {"response_fields": "score: number\ntier: text\nvip: boolean"}, acme
    )
    assert [(o.name, o.type) for o in outputs] == [
        ("status", "number"),
        ("body", "text"),
        ("score", "number"),
        ("tier", "text"),
        ("vip", "boolean"),
    ]


def test_the_step_fails_while_the_app_is_not_installed(acme, receiver, local_allowed):
    make_workflow(acme, chain(send_step(receiver.url())))
    contact(acme, first_name="Ann")
    drain()
    assert "The Webhooks app is not installed" in the_execution().error
    assert receiver.requests == []


def test_the_canvas_and_the_run_history_say_it_in_words(
    acme, installed, receiver, local_allowed, builder_client
):
    workflow = make_workflow(
        acme,
        chain(
            send_step(
                receiver.url(),
                method="PUT",
                headers="Authorization: Bearer s3cret\nX-Team: sales",
                body='{"who": "{{ object.first_name }}"}',
            )
        ),
    )
    contact(acme, first_name="Ann")
    drain()
    canvas = builder_client.get(reverse("workflows:builder", args=[workflow.pk])).content.decode()
    assert f"PUT http://127.0.0.1:{receiver.port}/hook" in canvas
    enrollment = the_execution().enrollment
    page = builder_client.get(reverse("history:run", args=[workflow.pk, enrollment.pk]))
    text = page.content.decode()
    for label in ("Method", "URL", "Headers", "JSON body", "Status code"):
        assert label in text
    assert "Authorization: ••••" in text and "X-Team: sales" in text
    assert "s3cret" not in text
    assert "{&quot;who&quot;:&quot;Ann&quot;}" in text


def test_the_space_the_editor_puts_after_a_token_is_dropped_where_json_and_urls_refuse_it(
    acme,
):
    clean = registry.get("send_webhook").validate_config(
        {
            "method": "POST",
            "url": "https://example.com/leads/{{ object.id }} /notes",
            "body": '{"who": "{{ object.first_name }} ", "note": "{{ object.city }} and more"}',
        },
        account=acme,
        object_type="contact",
    )
    assert clean["url"] == "https://example.com/leads/{{ object.id }}/notes"
    assert (
        clean["body"] == '{"who": "{{ object.first_name }}", "note": "{{ object.city }} and more"}'
    )


@pytest.fixture
def dns(monkeypatch):
    """The outside world's DNS, faked: names in the returned dict resolve to its lists."""
    import socket

    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_name_is_sent_to_the_address_that_was_checked_with_its_host_header(
    acme, installed, receiver, local_allowed, dns
):
    dns["hooks.example.test"] = ["127.0.0.1"]
    make_workflow(acme, chain(send_step(f"http://hooks.example.test:{receiver.port}/in")))
    contact(acme, first_name="Ann")
    drain()
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert the_execution().status == "succeeded"


def test_a_name_with_any_private_address_among_its_answers_is_refused(
    acme, installed, receiver, local_allowed, dns
):
    dns["mixed.example.test"] = ["93.184.216.34", "10.1.2.3"]
    dns["mapped.example.test"] = ["::ffff:169.254.169.254"]
    make_workflow(acme, chain(send_step("http://mixed.example.test/in")))
    make_workflow(acme, chain(send_step("http://mapped.example.test/in")))
    contact(acme, first_name="Ann")
    drain()
    errors = sorted(ActionExecution.objects.values_list("error", flat=True))
    assert (
        "mapped.example.test is a private or reserved address (::ffff:169.254.169.254)" in errors[0]
    )
    assert "mixed.example.test is a private or reserved address (10.1.2.3)" in errors[1]
    assert receiver.requests == []
