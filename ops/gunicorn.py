"""gunicorn's configuration for `crmflow web` (gunicorn -c python:ops.gunicorn).

Each value can be changed through the environment:
- CRMFLOW_BIND (127.0.0.1:8000): where gunicorn listens; a reverse proxy in front
  terminates TLS (deploy/Caddyfile, deploy/nginx.conf);
- WEB_CONCURRENCY (2 × cores + 1): worker processes; the pages are short database
  reads, so a sync worker per request in flight is enough;
- WEB_TIMEOUT (30): seconds before a stuck request's worker is restarted.

The client's address and scheme behind the proxy are Django's business (TRUSTED_PROXIES,
config/client_address.py; SECURE_PROXY_SSL_HEADER): gunicorn's own
FORWARDED_ALLOW_IPS keeps its default.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("CRMFLOW_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (with jitter, so not all at once).
max_requests = 2000
max_requests_jitter = 200
# Heartbeat files of the workers in memory rather than on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'
errorlog = "-"
