"""Peak memory of the web process when a huge CSV import is refused.

    .venv/bin/python benchmarks/csv_import_memory.py
    .venv/bin/python benchmarks/csv_import_memory.py --rows 5000000

Uploads a ~10 MB CSV file of --rows one-character rows (far over the 200,000-row
limit) to Settings → Import through Django's full request path (test client, in
process; SQLite in a temporary directory), and prints ONE JSON summary: the answer,
whether the refusal says why, the wall time, and the peak RSS growth of the process
during the request (ru_maxrss after minus the larger of the peak and the resident
size before; the request body is built before the baseline). Target: < 100 MB extra.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
_TMP = tempfile.mkdtemp(prefix="crmflow-csvbench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["CRMFLOW_ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "bm90LWEtcmVhbC1rZXktYmVuY2htYXJrLW9ubHkhISE=")
os.environ["DEBUG"] = "false"
os.environ["HTTPS"] = "false"
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ["DATABASE_URL"] = f"sqlite:///{_TMP}/bench.sqlite3"
os.environ["CACHE_URL"] = "locmem://"


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.test import Client
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    call_command("migrate", verbosity=0)
    from crm.models import Account, Role, User

    account = Account.objects.create(name="Bench")
    user = User.objects.create_user(
        username="bench", password="x", account=account, role=Role.SUPER_ADMIN
    )
    client = Client()
    client.force_login(user)
    url = "/settings/import/"

    def body(content: bytes) -> bytes:
        upload = SimpleUploadedFile("contacts.csv", content, content_type="text/csv")
        return encode_multipart(BOUNDARY, {"object_type": "contact", "file": upload})

    # Warm up the code path (imports, templates) with a small valid file.
    client.generic("POST", url, body(b"email\na@example.com\n"), MULTIPART_CONTENT)

    big = body(b"email\n" + b"x\n" * args.rows)
    print(f"request body: {len(big) / 1024 / 1024:.1f} MB", file=sys.stderr)
    baseline = max(peak_mb(), rss_mb())
    started = time.perf_counter()
    response = client.generic("POST", url, big, MULTIPART_CONTENT)
    elapsed = time.perf_counter() - started
    page = response.content.decode()
    print(
        json.dumps(
            {
                "rows": args.rows,
                "file_mb": round(len(big) / 1024 / 1024, 1),
                "status": response.status_code,
                "refused_with_reason": "more than 200000 rows" in page,
                "seconds": round(elapsed, 2),
                "baseline_mb": round(baseline, 1),
                "peak_extra_mb": round(peak_mb() - baseline, 1),
                "target_extra_mb": 100,
                "load_1min": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
