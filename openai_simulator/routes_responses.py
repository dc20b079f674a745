"""The Responses API: POST /v1/responses and GET /v1/responses/{id}."""

from __future__ import annotations

import asyncio
import time

from .checks import check_metadata, check_model_parameters, check_text_format
from .errors import ApiError, not_found
from .modelrun import answer_for, content_text, require_chat_model
from .objects import REASONING_TOKENS_BY_EFFORT, estimate_tokens, new_id, response_usage
from .store import ResponseRecord

PROMPT_CACHE_MIN_TOKENS = 1024
PROMPT_CACHE_BLOCK = 128


def split_input(raw: object) -> tuple[str, str]:
    """(extra instructions from system/developer messages, user prompt text)."""
    if isinstance(raw, str):
        return "", raw
    if not isinstance(raw, list):
        raise ApiError(
            400,
            "Invalid type for 'input': expected a string or an array of input items.",
            param="input",
        )
    system: list[str] = []
    prompt: list[str] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid type for 'input[]': expected an object.", param="input")
        text = content_text(item.get("content"))
        if item.get("role") in ("system", "developer"):
            system.append(text)
        elif item.get("role") in ("user", "assistant", None):
            prompt.append(text)
    return "\n".join(system), "\n".join(prompt)


def text_format(body: dict) -> dict:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return {"type": "text"}
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_schema", "json_object"):
        raise ApiError(
            400,
            "Invalid value for 'text.format.type'.",
            param="text.format.type",
            code="invalid_value",
        )
    if fmt["type"] == "json_schema":
        for required in ("name", "schema"):
            if not fmt.get(required):
                raise ApiError(
                    400,
                    f"Missing required parameter: 'text.format.{required}'.",
                    param=f"text.format.{required}",
                    code="missing_required_parameter",
                )
    return fmt


def _cached_tokens(ctx, instructions: str) -> int:
    """Prompt caching, roughly: a repeated instruction prefix of 1024+ tokens from the
    same key is served from cache in 128-token blocks."""
    tokens = estimate_tokens(instructions)
    if tokens < PROMPT_CACHE_MIN_TOKENS:
        return 0
    marker = (ctx.key.name, hash(instructions))
    seen = marker in ctx.sim.store.cached_prefixes
    ctx.sim.store.cached_prefixes.add(marker)
    return (tokens // PROMPT_CACHE_BLOCK) * PROMPT_CACHE_BLOCK if seen else 0


async def create_response(ctx):
    sim, key, body = ctx.sim, ctx.key, ctx.body
    if body.get("stream"):
        raise ApiError(
            400, "Streaming is not supported by the crmflow OpenAI simulator.", param="stream"
        )
    model = require_chat_model(sim, key, body.get("model"))
    check_model_parameters(model, body)
    check_metadata(body.get("metadata"))
    metadata = body.get("metadata") or {}
    if "input" not in body and not body.get("instructions"):
        raise ApiError(
            400,
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    store = body.get("store", True) is not False
    background = bool(body.get("background"))
    if background and not store:
        raise ApiError(
            400, "Background responses must be stored: 'store' cannot be false.", param="store"
        )
    system_text, prompt = split_input(body.get("input", ""))
    instructions = body.get("instructions") or ""
    full_instructions = "\n".join(t for t in (instructions, system_text) if t)
    fmt = text_format(body)
    check_text_format(fmt, "\n".join((system_text, prompt)))
    schema = fmt.get("schema") if fmt["type"] == "json_schema" else None
    answer = answer_for(full_instructions, prompt, schema, fmt["type"] == "json_object")

    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    effort = reasoning.get("effort") or ("medium" if model.reasoning else None)
    reasoning_tokens = REASONING_TOKENS_BY_EFFORT.get(effort, 192) if model.reasoning else 0
    input_tokens = estimate_tokens(full_instructions) + estimate_tokens(prompt)
    output_tokens = estimate_tokens(answer) + reasoning_tokens
    max_output = body.get("max_output_tokens")
    outcome, error_code = "completed", None
    if isinstance(max_output, int) and output_tokens > max_output:
        outcome, output_tokens = "incomplete", max_output
    rule = sim.faults.response_outcome(ctx.request.method, ctx.path, key.name, key.key)
    if rule is not None:
        outcome, error_code = (
            rule.response_outcome,
            (rule.run_error_code if rule.response_outcome == "failed" else None),
        )
    usage = response_usage(
        input_tokens, _cached_tokens(ctx, full_instructions), output_tokens, reasoning_tokens
    )
    ctx.charge_tokens(input_tokens + output_tokens, model.id)

    record = ResponseRecord(
        id=new_id("resp"),
        key_name=key.name,
        created_at=time.time(),
        duration=sim.sample_latency(),
        background=background,
        store=store,
        model=model.id,
        reasoning_model=model.reasoning,
        answer=answer,
        usage=usage,
        outcome=outcome,
        error_code=error_code,
        echo={
            "model": model.id,
            "instructions": body.get("instructions"),
            "metadata": metadata,
            "temperature": None if model.reasoning else body.get("temperature", 1.0),
            "top_p": None if model.reasoning else body.get("top_p", 1.0),
            "reasoning": {"effort": effort, "summary": None},
            "text": {"format": fmt, "verbosity": "medium"},
            "max_output_tokens": max_output,
        },
    )
    sim.store.add_response(record)
    if background:
        return record.to_object(record.created_at)
    if record.duration > 0:
        await asyncio.sleep(record.duration)
    return record.to_object(time.time())


async def retrieve_response(ctx):
    response_id = ctx.request.path_params["response_id"]
    record = ctx.sim.store.responses.get(response_id)
    if record is None or record.key_name != ctx.key.name:
        raise not_found(f"Response with id '{response_id}' not found.")
    ctx.model = record.model
    return record.to_object(time.time())


async def cancel_response(ctx):
    response_id = ctx.request.path_params["response_id"]
    record = ctx.sim.store.responses.get(response_id)
    if record is None or record.key_name != ctx.key.name:
        raise not_found(f"Response with id '{response_id}' not found.")
    if not record.background:
        raise ApiError(400, "Only background responses can be cancelled.")
    now = time.time()
    if record.status(now) in ("queued", "in_progress"):
        record.outcome, record.duration = "cancelled", now - record.created_at
    return record.to_object(now)
