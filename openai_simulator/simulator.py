"""The simulator's state and the request pipeline every /v1 endpoint goes through.

Pipeline, in the order the real API applies it: authenticate (key kind, scope,
quota) -> sunset -> count the request against RPM -> check the body against the
operation's request schema in openapi.yaml (validation.py) -> injected fault ->
endpoint (which charges tokens against TPM when it runs a model) -> log.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from . import azure
from .batches import BatchStore
from .config import SimulatorConfig
from .errors import ApiError, invalid_url, mask_key, overloaded, server_error
from .faults import FaultInjector
from .keys import KeyRegistry, key_headers
from .objects import new_id
from .promptcache import PromptCache
from .ratelimit import RateLimiter
from .requestlog import RequestLog
from .store import Store
from .validation import request_validators

MAX_HANG_SECONDS = 600.0
logger = logging.getLogger(__name__)


def dump_json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class CallContext:
    """What an endpoint handler gets: the caller's key, the parsed body, and a way to
    charge tokens."""

    __slots__ = ("sim", "request", "key", "headers", "body", "model", "tokens", "path")

    def __init__(self, sim: Simulator, request: Request, headers: dict) -> None:
        self.sim = sim
        self.request = request
        self.headers = headers
        self.key = None
        self.body: dict = {}
        self.model: str | None = None
        self.tokens = 0
        self.path = request.scope["path"]  # request.url would parse the whole URL

    def charge_tokens(self, tokens: int, model: str) -> None:
        key = self.key
        self.model = model
        self.headers.update(
            self.sim.limiter.admit_tokens(
                key.name, key.rpm, key.tpm, tokens, model=model, organization=key.organization
            )
        )
        self.tokens = tokens


@dataclass(frozen=True)
class EndpointPolicy:
    scope: str
    sunset_group: bool = False
    operation: str | None = None  # "POST /responses": whose request schema the body meets
    json_body: bool = True  # False: the handler reads the body itself (a file upload)


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.initial_config = copy.deepcopy(config)
        self.stopping = False
        self.validators = request_validators()  # compiled once per process
        self.apply(copy.deepcopy(config))

    def apply(self, config: SimulatorConfig) -> None:
        """(Re)build every piece of state from a config; used at start and on reset."""
        self.config = config
        self.keys = KeyRegistry(config.keys)
        self.models = {m.id: m for m in config.models}
        self.assistants = {a.id: a for a in config.assistants}
        self.faults = FaultInjector(config.faults, config.seed)
        self.latency_rng = random.Random(config.seed + 1)
        self.limiter = RateLimiter()
        self.prompt_cache = PromptCache()
        self.store = Store()
        self.batches = BatchStore()
        self.log = RequestLog(config.request_log_size)

    def reset(self) -> None:
        self.apply(copy.deepcopy(self.initial_config))

    def sample_latency(self) -> float:
        return self.config.latency.sample_seconds(self.latency_rng)

    def is_sunset_for(self, key) -> bool:
        return self.config.sunset or bool(key and key.sunset)

    async def handle(self, request: Request, handler, policy: EndpointPolicy) -> Response:
        started = time.perf_counter()
        method = request.scope["method"]
        path = request.scope["path"]
        headers = {"x-request-id": new_id("req"), "openai-version": "2020-10-01"}
        ctx = CallContext(self, request, headers)
        fault_name = None
        via_azure = azure.is_azure(request)
        try:
            key = ctx.key = self._authenticate(request, policy.scope, via_azure)
            headers.update(key_headers(key))
            if policy.sunset_group and self.is_sunset_for(key):
                raise invalid_url(method, path)
            if method == "POST" and policy.json_body:
                ctx.body = await _parse_json(request)
                if via_azure:
                    azure.resolve_deployment(self, ctx.body)
                model = ctx.body.get("model")
                ctx.model = model if isinstance(model, str) else None
            headers.update(
                self.limiter.admit_request(
                    key.name,
                    key.rpm,
                    key.tpm,
                    model=ctx.model or "default",
                    organization=key.organization,
                )
            )
            if policy.operation is not None:
                self.validators[policy.operation].check(ctx.body)
            hit = self.faults.http_fault(method, path, key.name, key.key)
            if hit:
                fault_name, rule = hit
                if fault_name == "hang":
                    return await self._hang(ctx, method, path, started)
                if fault_name != "truncated":
                    raise _injected_error(fault_name, rule, ctx)
            result = await handler(ctx)
            status, body = (200, result) if isinstance(result, dict) else result
        except ApiError as error:
            status, body = error.status, error.body()
            headers.update(error.headers)
        except Exception:
            # A simulator bug or an input shape it does not handle: answer like OpenAI's
            # 500 (so the SDK's error handling is what gets exercised) and say why here.
            logger.exception("openai_simulator failed on %s %s", method, path)
            error = server_error()
            status, body = error.status, error.body()
        # Bytes are a file's content (GET /v1/files/{id}/content), sent as they are.
        payload = body if isinstance(body, bytes) else dump_json(body)
        if self.config.bare:
            headers = {
                name: value
                for name, value in headers.items()
                if not name.startswith(("x-ratelimit-", "openai-"))
            }
        if fault_name == "truncated":
            # Cut mid-JSON with a matching Content-Length: the transport succeeds and
            # the client's JSON decoding is what fails, as with a broken proxy.
            payload = payload[: max(1, len(payload) // 2)]
        self._log(ctx, method, azure.original_path(request), status, started, fault_name)
        if not self.config.bare:
            headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
        media_type = "application/octet-stream" if isinstance(body, bytes) else "application/json"
        return Response(payload, status_code=status, headers=headers, media_type=media_type)

    def _authenticate(self, request: Request, scope: str, via_azure: bool):
        """The calling key: `api-key` under /openai (Azure's 401 when refused), the
        Bearer key otherwise; a bare server lets a request without a key in."""
        if via_azure:
            authorization = azure.authorization(request)
            try:
                return self.keys.authenticate(authorization, scope)
            except ApiError as error:
                if authorization is None or error.code == "invalid_api_key":
                    raise azure.access_denied() from None
                raise
        authorization = request.headers.get("authorization")
        if self.config.bare and not authorization:
            anonymous = next((k for k in self.keys.all() if k.kind == "valid"), None)
            if anonymous is not None:
                return anonymous
        return self.keys.authenticate(authorization, scope)

    async def _hang(self, ctx: CallContext, method: str, path: str, started: float) -> Response:
        # Logged before sleeping so a test can see the call while the client waits.
        self._log(ctx, method, path, 0, started, "hang")
        # Sleep in short steps so a stopping server (see testing.py) is not held up.
        deadline = time.monotonic() + min(self.config.hang_seconds, MAX_HANG_SECONDS)
        while time.monotonic() < deadline and not self.stopping:
            await asyncio.sleep(0.05)
        error = server_error()
        return Response(
            dump_json(error.body()),
            status_code=error.status,
            headers=ctx.headers,
            media_type="application/json",
        )

    def _log(
        self,
        ctx: CallContext,
        method: str,
        path: str,
        status: int,
        started: float,
        fault: str | None,
    ) -> None:
        key = ctx.key
        self.log.append(
            (
                time.time(),
                method,
                path,
                key.name if key else None,
                mask_key(key.key) if key else None,
                ctx.model,
                ctx.tokens,
                status,
                (time.perf_counter() - started) * 1000,
                fault,
                ctx.body if self.config.log_bodies and ctx.body else None,
            )
        )


async def _parse_json(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
            "If you have trouble figuring out how to fix this, please contact us through our help center at "
            "help.openai.com.)",
        )
    return body


def _injected_error(name: str, rule, ctx: CallContext) -> ApiError:
    if name == "error_429":
        retry_ms = rule.retry_after_ms if rule.retry_after_ms is not None else 1000
        key = ctx.key
        error = ApiError(
            429,
            f"Rate limit reached for {ctx.model or 'default'} in organization {key.organization or 'org-unknown'} "
            "on requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in "
            f"{retry_ms}ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
            type="requests",
            code="rate_limit_exceeded",
        )
        error.headers = {
            "retry-after": str(max(1, -(-retry_ms // 1000))),
            "retry-after-ms": str(retry_ms),
        }
        return error
    error = server_error() if name == "error_500" else overloaded()
    if rule.retry_after_ms is not None:
        error.headers = {"retry-after-ms": str(rule.retry_after_ms)}
    return error
