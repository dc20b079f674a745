"""Load balancer probes and the Prometheus endpoint. No login, and the probes say
nothing beyond "ok" / "not ready": what is wrong is on the System status page and in
/metrics, both protected.

The probes are answered by `ProbeMiddleware`, first in MIDDLEWARE: before the HTTPS
redirect and the ALLOWED_HOSTS check, so a load balancer can ask a backend directly over
HTTP by its address.

- /healthz: the process answers (no database, no Redis).
- /readyz: the database answers, every migration is applied, Redis answers. 503 if not.
- /metrics: Prometheus text format, only with `Authorization: Bearer <METRICS_TOKEN>`;
  404 while METRICS_TOKEN is unset (the endpoint does not exist), 401 with a wrong token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ops import metrics as ops_metrics
from ops.readiness import ready


def healthz() -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


def readyz() -> HttpResponse:
    if ready():
        return HttpResponse("ok\n", content_type="text/plain")
    return HttpResponse("not ready\n", status=503, content_type="text/plain")


PROBES = {"/healthz": healthz, "/readyz": readyz}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        response = probe()
        response["Cache-Control"] = "no-store"
        return response


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        response = HttpResponse(
            "Send the METRICS_TOKEN setting as 'Authorization: Bearer <token>'.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = ops_metrics.exposition()
    return HttpResponse(body, content_type=content_type)
