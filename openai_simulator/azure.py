"""Azure OpenAI mode: the v1 OpenAI-compatible path under /openai/v1, the `api-key`
header, and deployment names in place of model ids.

Source: Azure OpenAI "v1 API" reference (learn.microsoft.com/azure/ai-foundry/openai/
api-version-lifecycle): `https://<resource>.openai.azure.com/openai/v1/` takes the
OpenAI API's bodies, with `model` naming a deployment, and the key in an `api-key`
header; deployments are listed by `GET /openai/deployments?api-version=2022-12-01`.

`/openai/v1/<rest>` is served by the same routes as `/v1/<rest>` (the path is rewritten
before routing, and the original kept for the request log).
"""

from __future__ import annotations

from .errors import ApiError
from .keys import can_see_model

PREFIX = "/openai/v1/"
SCOPE_FLAG = "openai_sim_azure_path"
DEPLOYMENTS_PATH = "/openai/deployments"
DEPLOYMENTS_API_VERSION = "2022-12-01"

ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)


class AzurePaths:
    """ASGI middleware: `/openai/v1/x` → `/v1/x`, remembering it came the Azure way."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(PREFIX):
            scope = dict(scope)
            scope[SCOPE_FLAG] = path
            scope["path"] = "/v1/" + path.removeprefix(PREFIX)
            scope["raw_path"] = scope["path"].encode()
        elif scope["type"] == "http" and path == DEPLOYMENTS_PATH:
            scope = {**scope, SCOPE_FLAG: path}
        await self.app(scope, receive, send)


def is_azure(request) -> bool:
    return SCOPE_FLAG in request.scope


def original_path(request) -> str:
    return request.scope.get(SCOPE_FLAG) or request.scope["path"]


def authorization(request) -> str | None:
    """The `api-key` header as the Bearer value the key registry reads."""
    api_key = request.headers.get("api-key", "").strip()
    return f"Bearer {api_key}" if api_key else None


def access_denied() -> ApiError:
    return ApiError(401, ACCESS_DENIED, type="invalid_request_error", code="401")


def deployment_not_found() -> ApiError:
    return ApiError(
        404,
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
        code="DeploymentNotFound",
    )


def resolve_deployment(sim, body: dict) -> None:
    """Replace the deployment name in `model` by the model it runs (404 if unknown)."""
    name = body.get("model")
    if not isinstance(name, str):
        return
    deployment = next((d for d in sim.config.deployments if d.id == name), None)
    if deployment is None:
        raise deployment_not_found()
    body["model"] = deployment.model


def deployment_object(deployment) -> dict:
    return {
        "id": deployment.id,
        "object": "deployment",
        "model": deployment.model,
        "owner": "organization-owner",
        "status": "succeeded",
        "scale_settings": {"scale_type": "standard"},
        "created_at": deployment.created,
        "updated_at": deployment.created,
    }


async def list_deployments(ctx):
    if not ctx.request.query_params.get("api-version"):
        raise ApiError(404, "Resource not found", code="404")
    return {
        "object": "list",
        "data": [
            deployment_object(d)
            for d in ctx.sim.config.deployments
            if can_see_model(ctx.key, d.model)
        ],
    }
