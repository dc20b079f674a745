"""The Responses API: POST /v1/responses, GET /v1/responses/{id}, POST .../cancel.

By the time `create_response` runs, the body has passed the spec (validation.py). Then,
in order: the model and its parameters, the named checks (checks.py), the stored
conversation (`previous_response_id`) and its function calls, the model's round (function
calls or a text answer, tools.py), token accounting, the record.

Token accounting (docs/simulator.md): reasoning tokens are part of `output_tokens`, and
`max_output_tokens` bounds the sum; when it is reached the response ends `incomplete`
(reason `max_output_tokens`) with what fitted — reasoning first, then visible text.
"""

from __future__ import annotations

import asyncio
import time

from .checks import (
    check_function_tools,
    check_metadata,
    check_model_parameters,
    check_text_format,
    check_tool_choice,
)
from .conversation import Item, Prompt, check_calls_answered, items_from_input, tokens_of
from .errors import ApiError, not_found
from .modelrun import answer_for, require_chat_model
from .objects import (
    REASONING_TOKENS_BY_EFFORT,
    function_call_item,
    new_id,
    output_message_item,
    reasoning_item,
    response_usage,
)
from .store import ResponseRecord
from .tools import Call, choose_calls, matching_rule, outputs_text


def _previous(ctx, response_id: str | None) -> ResponseRecord | None:
    if response_id is None:
        return None
    record = ctx.sim.store.responses.get(response_id)
    if record is None or record.key_name != ctx.key.name:
        # Also what an unstored (`store: false`) response gets: it was never kept.
        raise ApiError(
            400,
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return record


def _echo_tools(tools: list[dict]) -> list[dict]:
    """Tools as a response repeats them: a function's omitted `strict` reads true (the
    Responses API makes schemas strict when it can; normalisation is not simulated)."""
    echoed = []
    for tool in tools:
        if tool.get("type") == "function" and tool.get("strict") is None:
            tool = {**tool, "strict": True}
        echoed.append(tool)
    return echoed


def _final_text(prompt: Prompt, rule, fmt: dict) -> str:
    user_text, _ = prompt.current_turn()
    outputs = outputs_text(prompt)
    if rule is not None and rule.answer and outputs:
        return rule.answer.replace("{output}", outputs)
    question = f"{user_text}\n{outputs}" if outputs else user_text
    schema = fmt.get("schema") if fmt["type"] == "json_schema" else None
    return answer_for(prompt.system_text(), question, schema, fmt["type"] == "json_object")


def _round_output(
    *,
    reasoning: bool,
    reasoning_tokens: int,
    calls: list[Call],
    text: str | None,
    max_output: int | None,
) -> tuple[str, list[dict], list[Item], int, int]:
    """(outcome, output items, conversation items, output tokens, reasoning tokens)."""
    visible = sum(tokens_of(c.name) + tokens_of(c.arguments) for c in calls) or tokens_of(
        text or ""
    )
    output: list[dict] = [reasoning_item()] if reasoning else []
    if max_output is not None and reasoning_tokens + visible > max_output:
        reasoning_tokens = min(reasoning_tokens, max_output)
        room = max_output - reasoning_tokens
        if text and room > 0:
            output.append(output_message_item(text[: room * 4], "incomplete"))
        # A function call cut short is not a call: none is sent.
        return "incomplete", output, [], max_output, reasoning_tokens
    items: list[Item] = []
    for call in calls:
        item = function_call_item(call.name, call.arguments)
        output.append(item)
        items.append(Item("function_call", call.arguments, call_id=item["call_id"], name=call.name))
    if text is not None:
        output.append(output_message_item(text))
        items.append(Item("message", text, role="assistant"))
    return "completed", output, items, reasoning_tokens + visible, reasoning_tokens


def _faulted(rule, output: list[dict], items: list[Item]) -> tuple[str, str | None, list, list]:
    """An injected outcome (faults.py): failed with no output, or incomplete mid-answer."""
    if rule.response_outcome == "failed":
        return "failed", rule.run_error_code, [], []
    cut = []
    for item in output:
        if item["type"] == "message":
            text = item["content"][0]["text"]
            item = output_message_item(text[: max(1, len(text) // 2)], "incomplete")
        cut.append(item)
    return "incomplete", None, cut, []


async def create_response(ctx):
    record = response_record(ctx)
    if record.background:
        # Like the API: a background response is queued when created, whatever its latency.
        return record.to_object(record.created_at, status="queued")
    if record.duration > 0:
        await asyncio.sleep(record.duration)
    return record.to_object(time.time())


def response_record(ctx, *, latency: bool = True) -> ResponseRecord:
    """The model's answer to a request body (`ctx.body`, already checked against the
    spec), stored when asked. A batch (batches.py) runs its lines through it with no
    latency."""
    sim, key, body = ctx.sim, ctx.key, ctx.body
    if body.get("stream"):
        raise ApiError(
            400, "Streaming is not supported by the crmflow OpenAI simulator.", param="stream"
        )
    model = require_chat_model(sim, key, body.get("model"))
    check_model_parameters(model, body)
    flex = body.get("service_tier") == "flex"
    if flex and not model.flex:
        raise ApiError(
            400,
            f"Invalid service_tier argument: flex is not available for model '{model.id}'.",
            param="service_tier",
        )
    check_metadata(body.get("metadata"))
    tools = body.get("tools") or []
    tool_choice = body.get("tool_choice") or "auto"
    check_function_tools(tools)
    check_tool_choice(tool_choice, tools)
    if body.get("input") in (None, "", []) and not body.get("instructions"):
        raise ApiError(
            400,
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    store = body.get("store") is not False
    background = bool(body.get("background"))
    if background and not store:
        raise ApiError(
            400, "Background responses must be stored: 'store' cannot be false.", param="store"
        )
    now = time.time()
    previous = _previous(ctx, body.get("previous_response_id"))
    new_items = items_from_input(body.get("input"))
    history = previous.conversation(now) if previous else []
    check_calls_answered(history, new_items)
    prompt = Prompt(body.get("instructions") or "", tools, [*history, *new_items])
    fmt = (body.get("text") or {}).get("format") or {"type": "text"}
    check_text_format(fmt, prompt.input_text())

    user_text, _ = prompt.current_turn()
    rule = matching_rule(
        sim.config.tool_calls,
        key=key,
        model=model.id,
        instructions=prompt.system_text(),
        user_text=user_text,
    )
    parallel = body.get("parallel_tool_calls") is not False
    calls = choose_calls(prompt, rule=rule, tool_choice=tool_choice, parallel=parallel)
    text = None if calls else _final_text(prompt, rule, fmt)
    effort = (body.get("reasoning") or {}).get("effort") or ("medium" if model.reasoning else None)
    outcome, output, output_items, output_tokens, reasoning_tokens = _round_output(
        reasoning=model.reasoning,
        reasoning_tokens=REASONING_TOKENS_BY_EFFORT.get(effort, 192) if model.reasoning else 0,
        calls=calls,
        text=text,
        max_output=body.get("max_output_tokens"),
    )
    error_code = None
    fault = sim.faults.response_outcome(ctx.request.method, ctx.path, key.name, key.key)
    if fault is not None:
        outcome, error_code, output, output_items = _faulted(fault, output, output_items)
    input_tokens = prompt.tokens()
    cached = sim.prompt_cache.cached_tokens((key.name, model.id), prompt.cache_text())
    ctx.charge_tokens(input_tokens + output_tokens, model.id)

    record = ResponseRecord(
        id=new_id("resp"),
        key_name=key.name,
        created_at=now,
        duration=sim.sample_latency() if latency else 0.0,
        background=background,
        store=store,
        model=model.id,
        input_items=new_items,
        output_items=output_items,
        output=output,
        usage=response_usage(input_tokens, cached, output_tokens, reasoning_tokens),
        echo={
            "model": model.id,
            "instructions": body.get("instructions"),
            "metadata": body.get("metadata") or {},
            "temperature": None if model.reasoning else body.get("temperature", 1.0),
            "top_p": None if model.reasoning else body.get("top_p", 1.0),
            "reasoning": {"effort": effort, "summary": None},
            "text": {"format": fmt, "verbosity": "medium"},
            "max_output_tokens": body.get("max_output_tokens"),
            "tools": _echo_tools(tools),
            "tool_choice": tool_choice,
            "parallel_tool_calls": parallel,
            # The tier that served it (the spec: it may differ from the one asked for).
            "service_tier": "flex" if flex else "default",
        },
        previous=previous,
        outcome=outcome,
        error_code=error_code,
    )
    sim.store.add_response(record)
    return record


def _own_response(ctx) -> ResponseRecord:
    response_id = ctx.request.path_params["response_id"]
    record = ctx.sim.store.responses.get(response_id)
    if record is None or record.key_name != ctx.key.name:
        raise not_found(f"Response with id '{response_id}' not found.")
    ctx.model = record.model
    return record


async def retrieve_response(ctx):
    return _own_response(ctx).to_object(time.time())


async def cancel_response(ctx):
    record = _own_response(ctx)
    if not record.background:
        raise ApiError(400, "Only background responses can be cancelled.")
    now = time.time()
    if record.status(now) in ("queued", "in_progress"):
        record.outcome, record.duration = "cancelled", now - record.created_at
        record.output, record.output_items = [], []
    return record.to_object(now)
