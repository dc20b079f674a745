"""JSON shapes of the API objects, exactly the fields openapi.yaml and the SDK know.

No field is added that the SDK types do not declare: code written against the
simulator must not come to depend on something OpenAI never sends.
"""

from __future__ import annotations

import math
import random

from .config import AssistantSpec, ModelSpec

REASONING_TOKENS_BY_EFFORT = {
    "none": 0,
    "minimal": 16,
    "low": 64,
    "medium": 192,
    "high": 512,
    "xhigh": 1024,
    "max": 2048,
}


# Ids only need to be unique, not secret: a PRNG is much cheaper than os.urandom.
_id_source = random.Random()


def new_id(prefix: str) -> str:
    return f"{prefix}_{_id_source.getrandbits(96):024x}"


def estimate_tokens(text: str) -> int:
    """The documented rule: characters / 4, rounded up (at least 1 for non-empty text)."""
    return math.ceil(len(text) / 4) if text else 0


def model_object(spec: ModelSpec) -> dict:
    return {"id": spec.id, "object": "model", "created": spec.created, "owned_by": spec.owned_by}


def assistant_object(spec: AssistantSpec) -> dict:
    return {
        "id": spec.id,
        "object": "assistant",
        "created_at": spec.created_at,
        "name": spec.name,
        "description": spec.description,
        "model": spec.model,
        "instructions": spec.instructions,
        "tools": spec.tools,
        "tool_resources": {},
        "metadata": spec.metadata,
        "temperature": spec.temperature,
        "top_p": spec.top_p,
        "response_format": spec.response_format,
    }


def thread_object(thread_id: str, created_at: int, metadata: dict) -> dict:
    return {
        "id": thread_id,
        "object": "thread",
        "created_at": created_at,
        "metadata": metadata,
        "tool_resources": {},
    }


def message_object(
    *,
    message_id: str,
    thread_id: str,
    created_at: int,
    role: str,
    text: str,
    assistant_id: str | None = None,
    run_id: str | None = None,
    metadata: dict | None = None,
    status: str = "completed",
    incomplete_reason: str | None = None,
) -> dict:
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": created_at,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "run_id": run_id,
        "role": role,
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "attachments": [],
        "metadata": metadata or {},
        "status": status,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "completed_at": created_at if status == "completed" else None,
        "incomplete_at": created_at if status == "incomplete" else None,
    }


def run_usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def response_usage(
    input_tokens: int, cached_tokens: int, output_tokens: int, reasoning_tokens: int
) -> dict:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def output_message_item(text: str, status: str = "completed") -> dict:
    return {
        "id": new_id("msg"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def reasoning_item() -> dict:
    return {"id": new_id("rs"), "type": "reasoning", "summary": []}


def function_call_item(name: str, arguments: str) -> dict:
    return {
        "id": new_id("fc"),
        "type": "function_call",
        "status": "completed",
        "call_id": new_id("call"),
        "name": name,
        "arguments": arguments,
    }
