"""What every benchmark needs: its processes (started in their own process group, stopped
with the group), the environment they run with, and how much CPU and memory they used.

Benchmarks run as scripts (`python benchmarks/x.py`), so this directory is on sys.path
and they `from _common import …`. Linux only: CPU and memory are read from /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    """Progress, on stderr: stdout carries only the benchmark's JSON summary."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    """The environment of a benchmark's Django processes: production-like settings
    (no DEBUG, no HTTPS redirect), quiet logs, throwaway secrets unless given."""
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.setdefault("SECRET_KEY", "benchmark-secret-key-not-for-production-0123456789")
    env.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CRMFLOW_ENV_FILE": "",
            "DEBUG": "false",
            "HTTPS": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(BASE_DIR),
        }
    )
    return env


def django_setup(**extra: str) -> None:
    """Set Django up in this process with base_env() (plus `extra` settings)."""
    os.environ.update(base_env())
    os.environ.update(extra)
    import django

    django.setup()


def database_recreate(url: str) -> None:
    """Drop and create the PostgreSQL database of `url`; only a `*_bench` one."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.endswith("_bench"):
        raise SystemExit(f"refusing to drop {name!r}: benchmark databases end in _bench")
    admin = parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def database_vacuum() -> None:
    """VACUUM ANALYZE the (Django-configured) database a benchmark keeps between runs, as
    autovacuum does on a production one: it is off on our benchmark machine, where ten
    runs tripled the ledger's dead rows and the PostgreSQL CPU per enrollment."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start `command` in a new session (its own process group), output to `log`."""
    return subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to the process's group; SIGKILL the group if it is not gone in 15 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def group_processes(group_ids: list[int]) -> Iterator[tuple[Path, list[str]]]:
    """(/proc entry, stat fields after the name) of every live process in these groups."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) in group_ids:
                yield entry, fields
        except (OSError, IndexError, ValueError):
            continue


def rss_mb(group_ids: list[int]) -> float:
    """Resident memory of every live process in these process groups."""
    total = 0
    for entry, _fields in group_processes(group_ids):
        try:
            total += int((entry / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError):
            continue
    return total / 2**20


def own_rss_mb() -> float:
    """This process's resident memory now."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds(group_ids: list[int]) -> float:
    """User + system CPU of the live processes of these groups, with their reaped children
    (a prefork pool's replaced processes): stat fields utime, stime, cutime, cstime."""
    ticks = sum(sum(int(v) for v in f[11:15]) for _entry, f in group_processes(group_ids))
    return ticks / os.sysconf("SC_CLK_TCK")


def named_processes(prefix: str) -> Iterator[tuple[Path, list[str]]]:
    """(/proc entry, stat fields after the name) of every live process whose name starts
    with `prefix` (e.g. "postgres", "redis-server": services that are not ours to start)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if name.startswith(prefix):
                yield entry, text.rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue


def named_cpu_seconds(prefix: str) -> float:
    """CPU of the processes named `prefix…`, with their reaped children (PostgreSQL's
    postmaster holds the time of the backends that have exited)."""
    ticks = sum(sum(int(v) for v in f[11:15]) for _entry, f in named_processes(prefix))
    return ticks / os.sysconf("SC_CLK_TCK")


def pss_mb(group_ids: list[int]) -> float:
    """Proportional memory of these groups' processes: a page shared by n processes
    (a prefork pool's children and their parent) counts 1/n in each, so the sum is what
    the processes take from the machine; RSS counts a shared page once per process."""
    total_kb = 0
    for entry, _fields in group_processes(group_ids):
        try:
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
        except (OSError, IndexError, ValueError):
            continue
    return total_kb / 1024


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, everyone's processes)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used over a stretch of time by our process groups, by the machine's shared
    services (PostgreSQL, Redis: by process name) and by the whole machine: what is left
    over ("other") is everyone else's work, so a reader can tell a saturated machine from
    a slow program."""

    SERVICES = {"postgresql": "postgres", "redis": "redis-server"}

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.start = {name: cpu_seconds(ids) for name, ids in groups.items()}
        self.start.update({name: named_cpu_seconds(p) for name, p in self.SERVICES.items()})
        self.machine = machine_busy_seconds()
        self.t0 = time.monotonic()
        self.load_start = os.getloadavg()[0]

    def report(self) -> dict:
        elapsed = time.monotonic() - self.t0
        used = {name: cpu_seconds(ids) - self.start[name] for name, ids in self.groups.items()}
        used.update(
            {name: named_cpu_seconds(p) - self.start[name] for name, p in self.SERVICES.items()}
        )
        machine = machine_busy_seconds() - self.machine
        return {
            "seconds": round(elapsed, 1),
            "cpu_seconds": {name: round(v, 1) for name, v in used.items()},
            "other_cpu_seconds": round(max(0.0, machine - sum(used.values())), 1),
            "machine_busy_cpu_seconds": round(machine, 1),
            "machine_cpu_capacity_seconds": round(elapsed * (os.cpu_count() or 1), 1),
            "load_average": [round(self.load_start, 2), round(os.getloadavg()[0], 2)],
        }
