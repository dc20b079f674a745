"""Test environment, set before Django reads its settings (loaded with `-p`).

Tests are hermetic: they ignore the developer's .env, generate their own secrets,
and start an embedded Redis when REDIS_URL is unset (a fresh machine). With
DATABASE_URL and REDIS_URL set (CI), they use those services.
"""

import atexit
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

from config.embedded_redis import free_port, start_redis

BASE_DIR = Path(__file__).resolve().parent.parent
(BASE_DIR / "var").mkdir(exist_ok=True)

os.environ["CRMFLOW_ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ["DEBUG"] = "false"
os.environ["HTTPS"] = "false"
# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
# make around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# One cache per process in tests, so that counters (form rate limits) never leak
# from one test into the next through a shared Redis.
os.environ.setdefault("CACHE_URL", "locmem://")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("EMAIL_URL", f"filemail://{tempfile.mkdtemp(prefix='crmflow-mail-')}")

if not os.environ.get("REDIS_URL"):
    _port = free_port()
    _redis = start_redis(_port, Path(tempfile.mkdtemp(prefix="crmflow-redis-")))
    atexit.register(_redis.terminate)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{_port}/0"

# pytest-xdist (`make test` runs the suite in two processes): each process gets its own
# Redis database and mail folder, since tests flush Redis, empty the Celery queues and
# read the mail folder; pytest-django gives each its own test database (`_gw0`, `_gw1`).
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker:
    _n = int(_xdist_worker.removeprefix("gw"))
    _url = urlsplit(os.environ["REDIS_URL"])
    _db = (int(_url.path.strip("/") or 0) + 10 + _n) % 16
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_db}"))
    if "crmflow-mail-" in os.environ["EMAIL_URL"]:
        os.environ["EMAIL_URL"] = f"filemail://{tempfile.mkdtemp(prefix='crmflow-mail-')}"
