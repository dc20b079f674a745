"""The `crmflow` command (pyproject's [project.scripts]): one entry point for every
process of an installation. Settings come from the environment, or from a .env file in
the working directory (CRMFLOW_ENV_FILE names another one).

    crmflow migrate            apply migrations and collect static files (before starting
                               processes of a new version; stop beat first)
    crmflow check              Django's deployment checks (`check --deploy`)
    crmflow web                gunicorn with ops/gunicorn.py (CRMFLOW_BIND, WEB_CONCURRENCY)
    crmflow worker             a worker for the default queue (+ sweeper ticks): one
                               process running one task at a time (-P solo)
    crmflow assistant-worker   a threaded worker for OpenAI calls (+ sweeper ticks)
    crmflow beat               the scheduler: start one (a second one stands by)
    crmflow manage ARGS…       any management command (createsuperuser, seed_demo, …)

Arguments after the process name go to gunicorn or celery unchanged, e.g.
`crmflow assistant-worker --concurrency 16` or `crmflow web --bind 0.0.0.0:8000`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

USAGE = __doc__.split("\n\n", 2)[2] if __doc__ else ""
# Threads of the assistant worker, and its PostgreSQL pool (docs/assistant-action.md).
ASSISTANT_THREADS = "8"
ASSISTANT_DB_POOL = "8"


def _prepare() -> None:
    """The .env file (CRMFLOW_ENV_FILE, else ./.env) into the environment, without
    overriding what is set: gunicorn's and celery's own settings read it too."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env_file = os.environ.get("CRMFLOW_ENV_FILE", os.path.join(os.getcwd(), ".env"))
    if env_file and os.path.isfile(env_file):
        import environ

        environ.Env.read_env(env_file)
        os.environ["CRMFLOW_ENV_FILE"] = env_file


def _manage(*args: str) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["crmflow", *args])


def _exec(argv: list[str]) -> None:
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", *args]


def worker_command(*args: str) -> list[str]:
    """The default queue's worker, as every way of starting one runs it (this command,
    `make run`, the benchmarks): ONE process that runs one task at a time in its main
    thread. A prefork pool (a parent and N children, each a full copy of Django, ~100 MB
    of RSS apiece) tripled the memory for no throughput: its tasks are short database
    work (docs/operations.md, "Processes and memory"). One task at a time in the main
    thread keeps the poison-step guard (`ledger.isolating`); for more throughput, run
    more such processes."""
    return _celery("worker", "-Q", "default,sweep", "-P", "solo", *args)


def assistant_worker_command(*args: str, threads: str = ASSISTANT_THREADS) -> list[str]:
    """The assistant queue's worker: one process, `threads` Celery threads (each runs
    one batch of OpenAI calls at a time; docs/assistant-action.md)."""
    return _celery("worker", "-Q", "assistant,sweep", "-P", "threads", "-c", threads, *args)


def _var_dir() -> str:
    import django
    from django.conf import settings

    django.setup()
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    return str(settings.VAR_DIR)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(f"usage: crmflow COMMAND [ARGS…]\n\n{USAGE}")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    _prepare()
    if command == "migrate":
        _manage("migrate", "--no-input", *rest)
        _manage("collectstatic", "--no-input", "-v", "0")
        return 0
    if command == "check":
        _manage("check", "--deploy", "--fail-level", "WARNING", *rest)
        return 0
    if command == "manage":
        _manage(*rest)
        return 0
    if command == "web":
        _exec(
            [sys.executable, "-m", "gunicorn", "-c", "python:ops.gunicorn", *rest]
            + ["config.wsgi:application"]
        )
    elif command == "worker":
        _exec(worker_command("-n", "default@%h", "-l", "INFO", *rest))
    elif command == "assistant-worker":
        os.environ.setdefault("DATABASE_POOL_MAX_SIZE", ASSISTANT_DB_POOL)
        _exec(assistant_worker_command("-n", "assistant@%h", "-l", "INFO", *rest))
    elif command == "beat":
        if not {"-s", "--schedule"} & set(rest):
            rest = ["-s", os.path.join(_var_dir(), "celerybeat-schedule"), *rest]
        _exec(_celery("beat", "-l", "INFO", *rest))
    else:
        print(f"crmflow: unknown command {command!r}.\n\nusage: crmflow COMMAND [ARGS…]\n\n{USAGE}")
        return 2
    return 0  # not reached: the process was replaced


if __name__ == "__main__":
    sys.exit(main())
