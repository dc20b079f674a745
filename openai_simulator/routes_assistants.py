"""Models, assistants, threads, runs and messages (the Assistants API, beta)."""

from __future__ import annotations

import time

from .checks import check_metadata, check_model_parameters
from .conversation import content_text
from .errors import ApiError, not_found
from .keys import can_see_assistant, can_see_model
from .modelrun import answer_for, require_chat_model
from .objects import assistant_object, estimate_tokens, model_object, new_id, thread_object
from .store import RUN_TERMINAL, RunRecord, list_body, paginate


def list_params(ctx) -> tuple[int, str, str | None, str | None]:
    query = ctx.request.query_params
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ApiError(
            400,
            f"Invalid 'limit': expected an integer, but got '{raw_limit}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if limit < 1:
        raise ApiError(
            400,
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} instead.",
            param="limit",
            code="integer_below_min_value",
        )
    if limit > 100:
        raise ApiError(
            400,
            f"Invalid 'limit': integer above maximum value. Expected a value <= 100, but got {limit} instead.",
            param="limit",
            code="integer_above_max_value",
        )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(
            400,
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    return limit, order, query.get("after"), query.get("before")


async def list_models(ctx):
    key = ctx.key
    return {
        "object": "list",
        "data": [model_object(m) for m in ctx.sim.models.values() if can_see_model(key, m.id)],
    }


async def retrieve_model(ctx):
    model_id = ctx.request.path_params["model"]
    spec = ctx.sim.models.get(model_id)
    if spec is None or not can_see_model(ctx.key, model_id):
        raise ApiError(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
    return model_object(spec)


async def list_assistants(ctx):
    limit, order, after, before = list_params(ctx)
    visible = [a for a in ctx.sim.assistants.values() if can_see_assistant(ctx.key, a.id)]
    visible.sort(key=lambda a: (a.created_at, a.id), reverse=order == "desc")
    page, has_more = paginate([assistant_object(a) for a in visible], limit, after, before)
    return list_body(page, has_more)


def _assistant(ctx, assistant_id: str):
    spec = ctx.sim.assistants.get(assistant_id)
    if spec is None or not can_see_assistant(ctx.key, assistant_id):
        raise not_found(f"No assistant found with id '{assistant_id}'.")
    return spec


async def retrieve_assistant(ctx):
    return assistant_object(_assistant(ctx, ctx.request.path_params["assistant_id"]))


def _thread(ctx, thread_id: str):
    thread = ctx.sim.store.threads.get(thread_id)
    if thread is None or thread.key_name != ctx.key.name:
        raise not_found(f"No thread found with id '{thread_id}'.")
    return thread


def _add_messages(ctx, thread, messages: object) -> None:
    for message in messages or []:
        role = message.get("role", "user") if isinstance(message, dict) else "user"
        if role not in ("user", "assistant"):
            raise ApiError(
                400,
                f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
                param="role",
            )
        ctx.sim.store.add_message(
            thread, role, content_text(message.get("content")), message.get("metadata")
        )


def _new_thread(ctx, spec: object, metadata_param: str = "metadata"):
    spec = spec if isinstance(spec, dict) else {}
    check_metadata(spec.get("metadata"), metadata_param)
    thread = ctx.sim.store.add_thread(ctx.key.name, spec.get("metadata") or {})
    _add_messages(ctx, thread, spec.get("messages"))
    return thread


async def create_thread(ctx):
    thread = _new_thread(ctx, ctx.body)
    return thread_object(thread.id, thread.created_at, thread.metadata)


async def retrieve_thread(ctx):
    thread = _thread(ctx, ctx.request.path_params["thread_id"])
    return thread_object(thread.id, thread.created_at, thread.metadata)


async def create_message(ctx):
    thread = _thread(ctx, ctx.request.path_params["thread_id"])
    check_metadata(ctx.body.get("metadata"))
    role = ctx.body.get("role", "user")
    if role not in ("user", "assistant"):
        raise ApiError(
            400,
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
            param="role",
        )
    return ctx.sim.store.add_message(
        thread, role, content_text(ctx.body.get("content")), ctx.body.get("metadata")
    )


def _poll_after_ms(run: RunRecord, now: float) -> str:
    remaining = run.created_at + run.duration - now
    return str(min(1000, max(10, int(remaining * 1000) + 1)))


def _json_schema_of(response_format: object) -> tuple[dict | None, bool]:
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            return (response_format.get("json_schema") or {}).get("schema") or {}, False
        if response_format.get("type") == "json_object":
            return None, True
    return None, False


def _start_run(ctx, thread, body: dict):
    sim, key = ctx.sim, ctx.key
    assistant_id = body.get("assistant_id")
    if not assistant_id:
        raise ApiError(
            400,
            "Missing required parameter: 'assistant_id'.",
            param="assistant_id",
            code="missing_required_parameter",
        )
    assistant = _assistant(ctx, assistant_id)
    model = require_chat_model(sim, key, body.get("model") or assistant.model)
    check_model_parameters(model, body)
    check_metadata(body.get("metadata"))
    metadata = body.get("metadata") or {}
    now = time.time()
    active = sim.store.active_run(thread, now)
    if active is not None:
        raise ApiError(400, f"Thread {thread.id} already has an active run {active.id}.")
    _add_messages(ctx, thread, body.get("additional_messages"))
    instructions = body.get("instructions") or assistant.instructions or ""
    if body.get("additional_instructions"):
        instructions = f"{instructions}\n{body['additional_instructions']}"
    # The prompt is what the user said since the assistant last spoke.
    sim.store.settle_thread(thread, now)
    prompt_parts: list[str] = []
    for message in thread.messages:
        if message["role"] == "assistant":
            prompt_parts = []
        else:
            prompt_parts.append(message["content"][0]["text"]["value"])
    response_format = body.get("response_format") or assistant.response_format
    json_schema, json_object = _json_schema_of(response_format)
    answer = answer_for(instructions, "\n".join(prompt_parts), json_schema, json_object)
    all_text = "\n".join(m["content"][0]["text"]["value"] for m in thread.messages)
    prompt_tokens = estimate_tokens(instructions) + estimate_tokens(all_text)
    completion_tokens = estimate_tokens(answer)
    ctx.charge_tokens(prompt_tokens + completion_tokens, model.id)
    rule = sim.faults.run_outcome(ctx.request.method, ctx.path, key.name, key.key)
    temperature = body.get("temperature", assistant.temperature)
    top_p = body.get("top_p", assistant.top_p)
    run = RunRecord(
        id=new_id("run"),
        thread_id=thread.id,
        assistant_id=assistant.id,
        key_name=key.name,
        created_at=now,
        duration=sim.sample_latency(),
        model=model.id,
        instructions=instructions,
        answer=answer,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        metadata=metadata,
        temperature=None if model.reasoning else (1.0 if temperature is None else temperature),
        top_p=None if model.reasoning else (1.0 if top_p is None else top_p),
        response_format=response_format,
        tools=body.get("tools") or assistant.tools,
        max_prompt_tokens=body.get("max_prompt_tokens"),
        max_completion_tokens=body.get("max_completion_tokens"),
        truncation_strategy=body.get("truncation_strategy")
        or {"type": "auto", "last_messages": None},
        tool_choice=body.get("tool_choice") or "auto",
        parallel_tool_calls=body.get("parallel_tool_calls", True),
        outcome=rule.run_outcome if rule else "completed",
        error_code=rule.run_error_code if rule else None,
    )
    sim.store.add_run(run)
    ctx.headers["openai-poll-after-ms"] = _poll_after_ms(run, now)
    return run.to_object(now, status="queued")


def _reject_streaming(body: dict) -> None:
    if body.get("stream"):
        raise ApiError(
            400, "Streaming is not supported by the crmflow OpenAI simulator.", param="stream"
        )


async def create_thread_and_run(ctx):
    _reject_streaming(ctx.body)
    thread = _new_thread(ctx, ctx.body.get("thread"), "thread.metadata")
    return _start_run(ctx, thread, ctx.body)


async def create_run(ctx):
    _reject_streaming(ctx.body)
    thread = _thread(ctx, ctx.request.path_params["thread_id"])
    return _start_run(ctx, thread, ctx.body)


def _run(ctx):
    thread = _thread(ctx, ctx.request.path_params["thread_id"])
    run_id = ctx.request.path_params["run_id"]
    run = ctx.sim.store.runs.get(run_id)
    if run is None or run.thread_id != thread.id:
        raise not_found(f"No run found with id '{run_id}'.")
    return run


async def retrieve_run(ctx):
    run = _run(ctx)
    now = time.time()
    ctx.sim.store.settle(run, now)
    ctx.model = run.model
    ctx.headers["openai-poll-after-ms"] = _poll_after_ms(run, now)
    return run.to_object(now)


async def cancel_run(ctx):
    run = _run(ctx)
    now = time.time()
    status = run.status(now)
    if status in RUN_TERMINAL:
        raise ApiError(400, f"Cannot cancel run with status '{status}'.")
    run.cancelled_at = now
    ctx.headers["openai-poll-after-ms"] = "10"
    return run.to_object(now, status="cancelling")


async def list_messages(ctx):
    limit, order, after, before = list_params(ctx)
    thread = _thread(ctx, ctx.request.path_params["thread_id"])
    ctx.sim.store.settle_thread(thread, time.time())
    run_id = ctx.request.query_params.get("run_id")
    messages = [m for m in thread.messages if run_id is None or m["run_id"] == run_id]
    if order == "desc":
        messages.reverse()
    page, has_more = paginate(messages, limit, after, before)
    return list_body(page, has_more)
