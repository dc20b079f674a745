"""Fixtures for the Webhooks app: a real HTTP server on 127.0.0.1 standing for the
outside world (it records what it is sent and answers from a script), the app installed
through its own service, and workflows built as the builder saves them.

Nothing of ours is mocked: requests leave through httpx2 over real sockets, and the
ledger runs them (in this process with `drain`, or on a real Celery worker).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm.models import ObjectType
from marketplace.integrations.webhooks.services import (
    connection_install,
    endpoint_get_or_create,
    endpoint_mapping_save,
)
from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)
from tests.workflows.conftest import chain, contact, drain, make_workflow  # noqa: F401
from workflows import services

LOCAL = "127.0.0.1/32"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


class Receiver:
    """A local HTTP server: `reply(...)` queues answers (then 200 {"ok": true})."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: deque[Reply] = deque()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver.lock:
                    receiver.requests.append(
                        Request(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    reply = receiver.replies.popleft() if receiver.replies else Reply()
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply(self, status: int = 200, body: bytes | str | dict = b"", **options) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.replies.append(Reply(status=status, body=body, **options))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def local_allowed(settings):
    """What tests do to reach the local receiver: allow 127.0.0.1 only."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = LOCAL
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2.0
    settings.WORKFLOWS_BACKOFF_SECONDS = 0.2


@pytest.fixture
def installed(acme, admin_user):
    """Webhooks installed in Acme; the value is the signing secret shown once."""
    return connection_install(account=acme, user=admin_user).secret


def send_step(url: str, **config) -> dict:
    config.setdefault("method", "POST")
    return {"type": "send_webhook", "config": {"url": url, **config}}


def task_step(title: str) -> dict:
    return {"type": "create_task", "config": {"title": title}}


def webhook_workflow(account, graph, *, mapping=None, match="email", on=True, **extra):
    """A workflow starting on "Webhook received", its URL mapped (default: email and
    first_name from the same JSON fields), and on."""
    workflow = services.workflow_create(
        account=account, object_type=ObjectType.CONTACT, name="Inbound", graph=graph, **extra
    )
    workflow.trigger = "webhook_received"
    workflow.save(update_fields=["trigger"])
    endpoint = endpoint_get_or_create(workflow=workflow)
    if mapping is None:
        mapping = [
            {"field": "email", "property": "email"},
            {"field": "first_name", "property": "first_name"},
        ]
    endpoint_mapping_save(endpoint=endpoint, mapping=mapping, match_property=match)
    if on:
        services.workflow_turn_on(workflow=workflow, enroll_existing=False)
        workflow.refresh_from_db()
    return workflow, endpoint
