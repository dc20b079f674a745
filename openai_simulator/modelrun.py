"""What running a model means here: a chat model the key may use, and a rule answer.

Shared by the Responses API and Assistants runs so both answer the same prompt the
same way.
"""

from __future__ import annotations

import json

from .answers import AnswerRules
from .config import ModelSpec
from .errors import ApiError, model_not_found
from .keys import can_see_model
from .structured import build_from_schema


def require_chat_model(sim, key, model_id: object, *, param: str = "model") -> ModelSpec:
    if not isinstance(model_id, str) or not model_id:
        raise ApiError(
            400,
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    spec = sim.models.get(model_id)
    if spec is None or not can_see_model(key, model_id):
        raise model_not_found(model_id)
    if spec.kind != "chat":
        raise ApiError(
            400,
            f"The model `{model_id}` is not supported with this endpoint; it is a {spec.kind} model.",
            param=param,
            code="unsupported_model",
        )
    return spec


def answer_for(
    instructions: str, prompt: str, json_schema: dict | None, json_object: bool = False
) -> str:
    """Plain text answer, or a JSON document when structured output was asked for."""
    facts = AnswerRules.facts(instructions, prompt)
    if json_schema is not None:
        try:
            value = build_from_schema(json_schema, facts)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise ApiError(
                400,
                f"Invalid schema for response_format: could not resolve {error!s} in the JSON schema.",
                param="text.format.schema",
                code="invalid_json_schema",
            ) from None
        return json.dumps(value, ensure_ascii=False)
    if json_object:
        return json.dumps({"answer": facts.answer_text()}, ensure_ascii=False)
    return facts.answer_text()
