"""A real Celery worker in a subprocess, for integration tests (no eager mode).

The worker uses the same test database and Redis as the test process, so it sees what
the test committed. Make the fixture available in your tests' conftest.py:

    from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)

then use it from a test that commits for real:

    import pytest
    from tests.celery_worker import wait_for

    @pytest.mark.integration
    @pytest.mark.django_db(transaction=True)
    def test_it_runs_on_a_worker(celery_worker):
        worker = celery_worker(
            queues=("default", "assistant", "sweep"),  # queues to consume
            beat=True,                            # embed beat (the sweeper) with -B
            include=["tests.workflows.probe_actions"],  # extra modules to import
            env={"WORKFLOWS_LEASE_SECONDS": "3"}, # extra environment (short timings)
        )
        ...  # create rows; on_commit publishes
        wait_for(lambda: Thing.objects.filter(done=True).exists(), timeout=30)
        worker.kill()    # SIGKILL the worker and its pool children
        worker.log()     # its output, for assertion messages

`celery_worker` is a factory fixture: call it several times for several workers; all are
stopped (SIGTERM, then SIGKILL) before the database is flushed. At start the factory
empties the `default`, `assistant` and `sweep` queues of this Redis database so messages left
by an earlier test cannot leak in. The environment is passed explicitly:
DJANGO_SETTINGS_MODULE, DATABASE_URL (the *test* database: SQLite's
`var/test.sqlite3`, or PostgreSQL's `test_<name>`), REDIS_URL, SECRET_KEY,
FIELD_ENCRYPTION_KEYS, EMAIL_URL, CRMFLOW_ENV_FILE="".
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 45


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float = 30,
    interval: float = 0.2,
    message: str = "condition",
) -> object:
    """Poll until `condition()` is truthy; fail the test with `message` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def database_url_for_workers() -> str:
    """A URL for the database the tests are using right now (the test database)."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        user = quote(settings.get("USER") or "")
        password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
        host = settings.get("HOST") or "127.0.0.1"
        port = f":{settings['PORT']}" if settings.get("PORT") else ""
        return f"postgres://{user}{password}@{host}{port}/{settings['NAME']}"
    raise RuntimeError(f"no worker support for {connection.vendor}")


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TZ") if key in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url_for_workers(),
            "REDIS_URL": os.environ["REDIS_URL"],
            "SECRET_KEY": os.environ["SECRET_KEY"],
            "FIELD_ENCRYPTION_KEYS": os.environ["FIELD_ENCRYPTION_KEYS"],
            "EMAIL_URL": os.environ.get("EMAIL_URL", "consolemail://"),
            "CRMFLOW_ENV_FILE": "",
            "DEBUG": "false",
            "HTTPS": "false",
            "PYTHONPATH": str(BASE_DIR),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class CeleryWorker:
    def __init__(
        self,
        *,
        queues: Iterable[str] = ("default", "assistant", "sweep"),
        beat: bool = False,
        include: Iterable[str] = (),
        env: dict[str, str] | None = None,
        concurrency: int = 2,
        workdir: Path | None = None,
    ):
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="crmflow-worker-"))
        self.log_path = self.workdir / f"worker-{uuid.uuid4().hex[:8]}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            ",".join(queues),
            "-c",
            str(concurrency),
            "-l",
            "INFO",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if include:
            command += ["--include", ",".join(include)]
        if beat:
            command += ["-B", "-s", str(self.workdir / f"beat-{uuid.uuid4().hex[:8]}")]
        self._log = self.log_path.open("wb")
        # Its own process group, so kill() reaches the pool children too.
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=worker_env(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Celery worker did not start:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool): nothing gets to clean up."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._log.close()

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def queues_purge(queues: Iterable[str] = ("default", "assistant", "sweep")) -> None:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    with client:
        client.delete(*queues)


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Factory: `celery_worker(**CeleryWorker options)` → a started CeleryWorker."""
    workers: list[CeleryWorker] = []
    queues_purge()
    # A beat killed by an earlier test left its single-instance lock (ops/beat.py) to
    # expire: free it, so this test's beat sends at once.
    queues_purge(["crmflow:beat:lock"])

    def start(**options) -> CeleryWorker:
        worker = CeleryWorker(workdir=tmp_path, **options)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
