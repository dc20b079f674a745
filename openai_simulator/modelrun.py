"""What running a model means here: input text in, a rule answer and token counts out.

Shared by the Responses API and Assistants runs so both answer the same prompt the
same way.
"""

from __future__ import annotations

import json

from .answers import AnswerRules
from .config import ModelSpec
from .errors import ApiError, model_not_found, unsupported_parameter
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


def check_sampling_params(model: ModelSpec, body: dict) -> None:
    """Reasoning models refuse temperature/top_p; other models refuse reasoning effort."""
    if model.reasoning:
        for param in ("temperature", "top_p"):
            if body.get(param) is not None:
                raise unsupported_parameter(param)
    else:
        reasoning = body.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        if effort is not None or body.get("reasoning_effort") is not None:
            raise unsupported_parameter(
                "reasoning.effort" if effort is not None else "reasoning_effort"
            )


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


def content_text(content: object) -> str:
    """Text of a message's content: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def metadata_of(body: dict) -> dict:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ApiError(
            400,
            "Invalid type for 'metadata': expected an object with string values.",
            param="metadata",
            code="invalid_type",
        )
    return metadata
