"""`make run`: migrate, load demo data, then start and supervise every process.

web (runserver on 127.0.0.1:8000), a Celery worker, Celery beat, Redis when
REDIS_URL is unset, and the OpenAI simulator when OPENAI_BASE_URL is unset. honcho
supervises them: logs are prefixed with the process name, and Ctrl-C (or any process
exiting) stops them all.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
WEB_ADDRESS = ("127.0.0.1", 8000)
# PostgreSQL connections of the `assistant` worker (ignored on SQLite).
ASSISTANT_DB_POOL = 8
SIMULATOR_DEMO_KEY_HINT = "sk-demo-crmflow-0000000000000000000000000000"

sys.path.insert(0, str(BASE_DIR))

from ops.cli import assistant_worker_command, worker_command  # noqa: E402


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def load_dotenv() -> None:
    import environ

    env_file = BASE_DIR / ".env"
    if env_file.exists():
        environ.Env.read_env(str(env_file))


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)


def main() -> int:
    load_dotenv()
    VAR_DIR.mkdir(exist_ok=True)
    python = shlex.quote(sys.executable)
    procfile: dict[str, str] = {}
    notes: list[str] = []

    if not port_is_free(*WEB_ADDRESS):
        print(
            f"Port {WEB_ADDRESS[1]} on {WEB_ADDRESS[0]} is already in use. Stop whatever is "
            "listening there (perhaps another `make run`) and try again.",
            file=sys.stderr,
        )
        return 1

    if not os.environ.get("REDIS_URL"):
        from config.embedded_redis import free_port, redis_command

        port = free_port()
        command = redis_command(port, VAR_DIR / "redis", persist=True)
        procfile["redis"] = shlex.join(command)
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        notes.append(f"Redis      embedded on {os.environ['REDIS_URL']} (data in var/redis)")
    else:
        notes.append(f"Redis      {os.environ['REDIS_URL']}")

    if not os.environ.get("OPENAI_BASE_URL"):
        if importlib.util.find_spec("openai_simulator") is not None:
            from config.embedded_redis import free_port

            port = free_port()
            procfile["simulator"] = f"{python} -m openai_simulator --host 127.0.0.1 --port {port}"
            os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
            notes.append(
                f"OpenAI     simulator on {os.environ['OPENAI_BASE_URL']} "
                f"(demo API key: {SIMULATOR_DEMO_KEY_HINT})"
            )
        else:
            notes.append(
                "OpenAI     simulator not available in this version; OpenAI calls will fail"
            )
    else:
        notes.append(f"OpenAI     {os.environ['OPENAI_BASE_URL']}")

    print("Preparing the database…", flush=True)
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo")

    procfile["web"] = f"{python} manage.py runserver {WEB_ADDRESS[0]}:{WEB_ADDRESS[1]}"
    # Started as `crmflow worker` and `crmflow assistant-worker` start them (ops/cli.py).
    procfile["worker"] = shlex.join(worker_command("-l", "INFO", "-n", "default@%h"))
    # OpenAI calls wait ~seconds each holding no DB connection: each of the 8 threads
    # runs one batch at a time, whose calls (up to OPENAI_BATCH_SIZE, 64) run at once in
    # the process's call threads, and on PostgreSQL a connection pool of 8 serves the
    # batches' short database phases (docs/assistant-action.md).
    procfile["assistant"] = f"env DATABASE_POOL_MAX_SIZE={ASSISTANT_DB_POOL} " + shlex.join(
        assistant_worker_command("-l", "INFO", "-n", "assistant@%h")
    )
    procfile["beat"] = (
        f"{python} -m celery -A config beat -l INFO "
        f"-s {shlex.quote(str(VAR_DIR / 'celerybeat-schedule'))}"
    )
    procfile_path = VAR_DIR / "Procfile.dev"
    procfile_path.write_text("".join(f"{name}: {cmd}\n" for name, cmd in procfile.items()))

    print()
    print("crmflow is starting:")
    print(f"  Web        http://{WEB_ADDRESS[0]}:{WEB_ADDRESS[1]}/  (log in with a user above)")
    for note in notes:
        print(f"  {note}")
    print("  Stop everything with Ctrl-C.")
    print(flush=True)

    honcho = [sys.executable, "-m", "honcho", "-f", str(procfile_path), "-d", str(BASE_DIR)]
    honcho += ["-e", os.devnull, "start"]
    os.execv(sys.executable, honcho)
    return 0


if __name__ == "__main__":
    sys.exit(main())
