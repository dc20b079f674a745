"""System status page and the health banner on every page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from workflows.engine import health
from workflows.models import ActionExecution

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis():
    client = health.redis_client()
    for key in client.scan_iter(match=f"{health.HEARTBEAT_PREFIX}*"):
        client.delete(key)
    yield client
    for key in client.scan_iter(match=f"{health.HEARTBEAT_PREFIX}*"):
        client.delete(key)


def page(client) -> str:
    cache.clear()
    return client.get(reverse("crm:settings_home")).content.decode()


def test_the_banner_shows_when_no_worker_heartbeat_is_fresh(redis, builder_client):
    assert "data-health-banner" in page(builder_client)
    assert "No background worker is running" in page(builder_client)


def test_the_banner_goes_away_with_a_fresh_heartbeat(redis, builder_client):
    health.heartbeat_write("worker@test", ["default", "assistant"], redis)
    assert "data-health-banner" not in page(builder_client)


def test_an_expired_heartbeat_counts_as_down(redis, builder_client):
    health.heartbeat_write("worker@test", ["default"], redis)
    redis.expire(f"{health.HEARTBEAT_PREFIX}worker@test", 1)
    import time

    time.sleep(1.2)
    assert "data-health-banner" in page(builder_client)


def test_the_banner_shows_when_the_sweeper_is_behind(redis, acme, builder_client):
    from tests.workflows.conftest import chain, contact, make_workflow

    health.heartbeat_write("worker@test", ["default"], redis)
    make_workflow(acme, chain({"type": "create_task", "config": {"title": "T"}}))
    contact(acme, first_name="Late")
    ActionExecution.objects.update(due_at=timezone.now() - dt.timedelta(minutes=10))
    html = page(builder_client)
    assert "running late" in html


def test_a_page_still_renders_when_redis_is_down(settings, builder_client):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    html = page(builder_client)
    assert "cannot be reached" in html


def test_the_status_page_is_for_super_admins(redis, admin_client, builder_client, rep_client):
    assert builder_client.get(reverse("history:status")).status_code == 403
    assert rep_client.get(reverse("history:status")).status_code == 403
    health.heartbeat_write("worker-1@host", ["default", "assistant"], redis)
    html = admin_client.get(reverse("history:status")).content.decode()
    assert "worker-1@host" in html and "default, assistant" in html
    assert 'data-queue="assistant"' in html
    assert "Failures in the last hour" in html


def test_the_heartbeat_thread_writes_and_shutdown_removes(redis):
    class Sender:
        hostname = "celery@thread"

        class app:  # noqa: N801
            class amqp:  # noqa: N801
                class queues:  # noqa: N801
                    consume_from = {}

    health.on_worker_ready(sender=Sender)
    import time

    deadline = time.monotonic() + 5
    while (
        not redis.exists(f"{health.HEARTBEAT_PREFIX}celery@thread") and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert [w.hostname for w in health.workers_alive(redis)] == ["celery@thread"]
    health.on_worker_shutdown(sender=Sender)
    assert health.workers_alive(redis) == []
