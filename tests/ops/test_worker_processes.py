"""How workers start (ops/cli.py, docs/operations.md "Processes and memory"): the
default queue's worker is one process, and no worker loads the web's views."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.cli import worker_command
from tests.celery_worker import BASE_DIR, READY_TIMEOUT, worker_env


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "stat").read_text().rsplit(")", 1)[1].split()[
                1
            ] == str(pid):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_the_default_worker_is_one_process():
    log = Path(tempfile.mkdtemp(prefix="crmflow-worker-")) / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            # A queue of its own: a task another test process publishes would hold its
            # shutdown (one process: SIGTERM waits for the task at hand).
            worker_command(
                "-n", "one-process@%h", "-l", "INFO", "--without-mingle", "-Q", "one-process-test"
            ),
            cwd=BASE_DIR,
            env=worker_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert children_of(process.pid) == []
        assert "one-process-test" in log.read_text(errors="replace")
    finally:
        process.terminate()
        process.wait(30)


def test_a_worker_starts_without_the_webs_views():
    """Celery's Django fixup runs the system checks at a worker's start unless told not
    to, and the URL checks import every view (config/celery.py)."""
    script = (
        "import sys; from config.celery import app; app.loader.import_default_modules(); "
        "print(sorted(m for m in ('config.urls', 'crm.views', 'workflows.builder.list_views') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=worker_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stderr
