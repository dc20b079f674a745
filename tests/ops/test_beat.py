"""Beat started twice sends each periodic task once (ops/beat.py): the second stands by
until the first is gone, then takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from ops.beat import LOCK_KEY
from tests.celery_worker import BASE_DIR, queues_purge, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
SWEEP_SECONDS = 0.5


def start_beat(tmp_path, name: str) -> tuple[subprocess.Popen, object]:
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO"]
        + ["-s", str(tmp_path / f"{name}-schedule")],
        cwd=BASE_DIR,
        env=worker_env(
            {"WORKFLOWS_SWEEP_SECONDS": str(SWEEP_SECONDS), "CRMFLOW_BEAT_LOCK_SECONDS": "3"}
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, tmp_path / f"{name}.log"


def sent(client: redis.Redis) -> int:
    """Sweeper ticks beat published (no worker consumes them in this test)."""
    return client.llen("sweep")


def test_a_second_beat_stands_by_and_takes_over_when_the_first_dies(tmp_path):
    queues_purge(["sweep", LOCK_KEY])
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    first, first_log = start_beat(tmp_path, "first")
    second = None
    try:
        wait_for(lambda: "holds the lock" in first_log.read_text(), timeout=60, message="beat 1")
        second, second_log = start_beat(tmp_path, "second")
        wait_for(
            lambda: "stands by" in second_log.read_text(), timeout=60, message="beat 2 standing by"
        )
        before, started = sent(client), time.monotonic()
        time.sleep(4)
        ticks = sent(client) - before
        window = time.monotonic() - started
        # One beat sends one tick per SWEEP_SECONDS; two would send twice as many.
        assert 0 < ticks <= window / SWEEP_SECONDS + 2, ticks  # not a speed target

        os.killpg(first.pid, signal.SIGKILL)  # no chance to release the lock
        first.wait(10)
        wait_for(
            lambda: "holds the lock" in second_log.read_text(),
            timeout=30,
            message="beat 2 taking over after the lock expired",
        )
        after = sent(client)
        wait_for(lambda: sent(client) > after, timeout=10, message="beat 2 sending")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(10)
        client.delete("sweep")
        client.close()
