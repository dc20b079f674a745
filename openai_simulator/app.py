"""The ASGI application: routes wired to the simulator pipeline."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from . import azure, batches, routes_admin
from . import routes_assistants as assistants
from . import routes_responses as responses
from .config import SimulatorConfig, as_config
from .errors import invalid_url
from .simulator import EndpointPolicy, Simulator

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _endpoint(
    handler,
    scope: str,
    *,
    sunset_group: bool = False,
    operation: str | None = None,
    json_body: bool = True,
):
    policy = EndpointPolicy(
        scope=scope, sunset_group=sunset_group, operation=operation, json_body=json_body
    )

    async def endpoint(request):
        return await request.app.state.simulator.handle(request, handler, policy)

    endpoint.__name__ = handler.__name__
    return endpoint


async def _unknown_route(ctx):
    raise invalid_url(ctx.request.method, ctx.path)


def _api_routes() -> list[Route]:
    a, r = assistants, responses

    def assistants_api(path, handler, method, scope):
        # Bodies are checked against the spec's request schema of the same operation.
        operation = f"POST {path.removeprefix('/v1')}" if method == "POST" else None
        if path.endswith("/cancel"):
            operation = None  # no request body
        endpoint = _endpoint(handler, scope, sunset_group=True, operation=operation)
        return Route(path, endpoint, methods=[method])

    return [
        Route("/v1/models", _endpoint(a.list_models, "api.model.read"), methods=["GET"]),
        Route(
            "/v1/models/{model:path}",
            _endpoint(a.retrieve_model, "api.model.read"),
            methods=["GET"],
        ),
        assistants_api("/v1/assistants", a.list_assistants, "GET", "api.assistants.read"),
        assistants_api(
            "/v1/assistants/{assistant_id}", a.retrieve_assistant, "GET", "api.assistants.read"
        ),
        assistants_api("/v1/threads", a.create_thread, "POST", "api.threads.write"),
        assistants_api("/v1/threads/runs", a.create_thread_and_run, "POST", "api.threads.write"),
        assistants_api("/v1/threads/{thread_id}", a.retrieve_thread, "GET", "api.threads.read"),
        assistants_api(
            "/v1/threads/{thread_id}/messages", a.list_messages, "GET", "api.threads.read"
        ),
        assistants_api(
            "/v1/threads/{thread_id}/messages", a.create_message, "POST", "api.threads.write"
        ),
        assistants_api("/v1/threads/{thread_id}/runs", a.create_run, "POST", "api.threads.write"),
        assistants_api(
            "/v1/threads/{thread_id}/runs/{run_id}", a.retrieve_run, "GET", "api.threads.read"
        ),
        assistants_api(
            "/v1/threads/{thread_id}/runs/{run_id}/cancel",
            a.cancel_run,
            "POST",
            "api.threads.write",
        ),
        Route(
            "/v1/responses",
            _endpoint(r.create_response, "api.responses.write", operation="POST /responses"),
            methods=["POST"],
        ),
        Route(
            "/v1/responses/{response_id}",
            _endpoint(r.retrieve_response, "api.responses.read"),
            methods=["GET"],
        ),
        Route(
            "/v1/responses/{response_id}/cancel",
            _endpoint(r.cancel_response, "api.responses.write"),
            methods=["POST"],
        ),
        *_batch_routes(),
        Route(
            azure.DEPLOYMENTS_PATH,
            _endpoint(azure.list_deployments, "api.model.read"),
            methods=["GET"],
        ),
        # Anything else under /v1 answers like the real API does for a route it lacks.
        Route("/v1/{rest:path}", _endpoint(_unknown_route, "api.model.read"), methods=ALL_METHODS),
    ]


def _batch_routes() -> list[Route]:
    b = batches
    return [
        Route(
            "/v1/files",
            _endpoint(b.create_file, "api.files.write", json_body=False),
            methods=["POST"],
        ),
        Route("/v1/files/{file_id}", _endpoint(b.retrieve_file, "api.files.read"), methods=["GET"]),
        Route(
            "/v1/files/{file_id}/content",
            _endpoint(b.file_content, "api.files.read"),
            methods=["GET"],
        ),
        Route(
            "/v1/batches",
            _endpoint(b.create_batch, "api.batch.write", operation="POST /batches"),
            methods=["POST"],
        ),
        Route("/v1/batches", _endpoint(b.list_batches, "api.batch.read"), methods=["GET"]),
        Route(
            "/v1/batches/{batch_id}",
            _endpoint(b.retrieve_batch, "api.batch.read"),
            methods=["GET"],
        ),
        Route(
            "/v1/batches/{batch_id}/cancel",
            _endpoint(b.cancel_batch, "api.batch.write", json_body=False),
            methods=["POST"],
        ),
    ]


def _admin_routes() -> list[Route]:
    m = routes_admin
    return [
        Route("/_sim/health", m.health, methods=["GET"]),
        Route("/_sim/config", m.get_config, methods=["GET"]),
        Route("/_sim/config", m.post_config, methods=["POST"]),
        Route("/_sim/reset", m.reset, methods=["POST"]),
        Route("/_sim/requests", m.get_requests, methods=["GET"]),
        Route("/_sim/requests", m.delete_requests, methods=["DELETE"]),
    ]


def create_app(config: SimulatorConfig | dict | str | None = None) -> Starlette:
    app = Starlette(
        routes=_api_routes() + _admin_routes(), middleware=[Middleware(azure.AzurePaths)]
    )
    app.state.simulator = Simulator(as_config(config))
    return app
