"""OpenAI error bodies (the ErrorResponse schema) and the exception that carries them.

Messages copy the wording of the real API, because client code (and people reading
execution history) match on them.
"""

from __future__ import annotations

API_KEYS_URL = "https://platform.openai.com/account/api-keys"
ERROR_CODES_URL = "https://platform.openai.com/docs/guides/error-codes/api-errors"
RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"


class ApiError(Exception):
    """An HTTP error answered with OpenAI's `{"error": {...}}` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI echoes it back: a short prefix, stars, the last four."""
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def missing_api_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an "
        "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
        "or as the password field (with blank username) if you're accessing the API "
        "from your browser and are prompted for a username. You can obtain an API key "
        f"from {API_KEYS_URL}.",
    )


def incorrect_api_key(key: str) -> ApiError:
    return ApiError(
        401,
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at {API_KEYS_URL}.",
        code="invalid_api_key",
    )


def missing_scope(scope: str) -> ApiError:
    return ApiError(
        401,
        "You have insufficient permissions for this operation. "
        f"Missing scopes: {scope}. Check that you have the correct role in your "
        "organization (Reader, Writer, Owner) and project (Member, Owner), and if you're "
        "using a restricted API key, that it has the necessary scopes.",
    )


def insufficient_quota() -> ApiError:
    return ApiError(
        429,
        "You exceeded your current quota, please check your plan and billing details. "
        f"For more information on this error, read the docs: {ERROR_CODES_URL}.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


def invalid_url(method: str, path: str) -> ApiError:
    # What the real API answers for a route it does not serve, which is also what a
    # shut-down API (Assistants, since 26 Aug 2026) looks like to a client.
    return ApiError(404, f"Invalid URL ({method} {path})")


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def unsupported_parameter(param: str) -> ApiError:
    return ApiError(
        400,
        f"Unsupported parameter: '{param}' is not supported with this model.",
        param=param,
        code="unsupported_parameter",
    )


def invalid_value(param: str, message: str, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def server_error() -> ApiError:
    return ApiError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


def overloaded() -> ApiError:
    return ApiError(
        503,
        "The engine is currently overloaded, please try again later.",
        type="server_error",
    )
