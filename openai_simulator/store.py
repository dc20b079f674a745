"""In-memory threads, messages, runs and stored responses.

Nothing runs in the background: a run's or a background response's status is computed
from the time elapsed since it was created (queued for the first fifth of its duration,
then in_progress, then its outcome). The assistant message of a run is written the
first time anyone looks at the run or its thread after it has finished.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from .objects import message_object, new_id, run_usage

RUN_TERMINAL = ("completed", "failed", "incomplete", "expired", "cancelled")
QUEUED_SHARE = 0.2  # share of the duration a run/background response spends queued
RUN_EXPIRY_SECONDS = 600
MAX_STORED = 100_000


def paginate(items: list, limit: int, after: str | None, before: str | None) -> tuple[list, bool]:
    """Cursor pagination over items already in the requested order (each has ["id"])."""
    if after:
        index = next((i for i, item in enumerate(items) if item["id"] == after), None)
        rest = [] if index is None else items[index + 1 :]
        return rest[:limit], len(rest) > limit
    if before:
        index = next((i for i, item in enumerate(items) if item["id"] == before), None)
        rest = [] if index is None else items[:index]
        return rest[-limit:], len(rest) > limit
    return items[:limit], len(items) > limit


def list_body(page: list, has_more: bool) -> dict:
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }


@dataclass
class ThreadRecord:
    id: str
    key_name: str
    created_at: int
    metadata: dict
    messages: list[dict] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)


@dataclass
class RunRecord:
    id: str
    thread_id: str
    assistant_id: str
    key_name: str
    created_at: float
    duration: float
    model: str
    instructions: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    metadata: dict
    temperature: float | None
    top_p: float | None
    response_format: object
    tools: list
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict
    tool_choice: object
    parallel_tool_calls: bool
    outcome: str = "completed"
    error_code: str | None = None
    cancelled_at: float | None = None
    settled: bool = False

    def status(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        elapsed = now - self.created_at
        if elapsed < self.duration * QUEUED_SHARE:
            return "queued"
        if elapsed < self.duration:
            return "in_progress"
        return self.outcome

    def started_at(self, status: str) -> int | None:
        """When the run left the queue; None if it has not, or was cancelled before."""
        started = self.created_at + self.duration * QUEUED_SHARE
        if status == "queued" or (self.cancelled_at is not None and self.cancelled_at < started):
            return None
        return int(started)

    def finished_at(self) -> int:
        return int(
            self.cancelled_at if self.cancelled_at is not None else self.created_at + self.duration
        )

    def to_object(self, now: float, status: str | None = None) -> dict:
        status = status or self.status(now)
        terminal = status in RUN_TERMINAL
        ended = self.finished_at()
        error = None
        if status == "failed":
            messages = {
                "server_error": "Sorry, something went wrong.",
                "rate_limit_exceeded": "Rate limit reached. Please try again later.",
                "invalid_prompt": "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
            }
            error = {
                "code": self.error_code or "server_error",
                "message": messages[self.error_code or "server_error"],
            }
        return {
            "id": self.id,
            "object": "thread.run",
            "created_at": int(self.created_at),
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "status": status,
            "started_at": self.started_at(status),
            "expires_at": None if terminal else int(self.created_at) + RUN_EXPIRY_SECONDS,
            "cancelled_at": ended if status == "cancelled" else None,
            "failed_at": ended if status == "failed" else None,
            "completed_at": ended if status == "completed" else None,
            "required_action": None,
            "last_error": error,
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "metadata": self.metadata,
            "incomplete_details": {"reason": "max_completion_tokens"}
            if status == "incomplete"
            else None,
            "usage": run_usage(self.prompt_tokens, self.completion_tokens) if terminal else None,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_completion_tokens": self.max_completion_tokens,
            "truncation_strategy": self.truncation_strategy,
            "response_format": self.response_format,
            "tool_choice": self.tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls,
        }


@dataclass
class ResponseRecord:
    id: str
    key_name: str
    created_at: float
    duration: float
    background: bool
    store: bool
    model: str
    input_items: list  # conversation.Item: what this request added to the conversation
    output_items: list  # conversation.Item: what the model added (continuations read it)
    output: list[dict]  # the `output` array once finished
    usage: dict
    echo: dict  # request parameters the response object repeats back
    previous: ResponseRecord | None = None
    outcome: str = "completed"
    error_code: str | None = None

    def status(self, now: float) -> str:
        if not self.background:
            return self.outcome
        elapsed = now - self.created_at
        if elapsed < self.duration * QUEUED_SHARE:
            return "queued"
        if elapsed < self.duration:
            return "in_progress"
        return self.outcome

    def conversation(self, now: float) -> list:
        """Every item of the stored chain up to and including this response."""
        chain = []
        record: ResponseRecord | None = self
        while record is not None:
            chain.append(record)
            record = record.previous
        items: list = []
        for record in reversed(chain):
            items.extend(record.input_items)
            if record.status(now) in ("completed", "incomplete"):
                items.extend(record.output_items)
        return items

    def to_object(self, now: float, status: str | None = None) -> dict:
        status = status or self.status(now)
        terminal = status in ("completed", "failed", "incomplete", "cancelled")
        body = {
            "id": self.id,
            "object": "response",
            "created_at": int(self.created_at),
            "status": status,
            "background": self.background,
            "completed_at": int(self.created_at + self.duration) if status == "completed" else None,
            "error": {
                "code": self.error_code or "server_error",
                "message": "The model failed to generate a response.",
            }
            if status == "failed"
            else None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "output": self.output if status in ("completed", "incomplete") else [],
            "previous_response_id": self.previous.id if self.previous else None,
            "service_tier": "default",
            "top_logprobs": 0,
            "truncation": "disabled",
            **self.echo,
        }
        # The spec types `usage` as an object, so it is left out (the SDK reads None)
        # until the response has finished.
        if terminal:
            body["usage"] = self.usage
        return body


class Store:
    def __init__(self) -> None:
        self.threads: dict[str, ThreadRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.responses: OrderedDict[str, ResponseRecord] = OrderedDict()
        # Instruction prefixes a key has sent, for the prompt-cache estimate.
        self.cached_prefixes: set[tuple[str, int]] = set()

    def add_thread(self, key_name: str, metadata: dict) -> ThreadRecord:
        thread = ThreadRecord(
            id=new_id("thread"), key_name=key_name, created_at=int(time.time()), metadata=metadata
        )
        self.threads[thread.id] = thread
        return thread

    def add_message(
        self, thread: ThreadRecord, role: str, text: str, metadata: dict | None = None
    ) -> dict:
        message = message_object(
            message_id=new_id("msg"),
            thread_id=thread.id,
            created_at=int(time.time()),
            role=role,
            text=text,
            metadata=metadata,
        )
        thread.messages.append(message)
        return message

    def active_run(self, thread: ThreadRecord, now: float) -> RunRecord | None:
        for run_id in thread.run_ids:
            run = self.runs[run_id]
            if run.status(now) not in RUN_TERMINAL:
                return run
        return None

    def add_run(self, run: RunRecord) -> None:
        self.runs[run.id] = run
        self.threads[run.thread_id].run_ids.append(run.id)

    def settle(self, run: RunRecord, now: float) -> None:
        """Write the run's assistant message once the run has finished."""
        if run.settled:
            return
        status = run.status(now)
        if status not in ("completed", "incomplete"):
            run.settled = status in RUN_TERMINAL
            return
        run.settled = True
        text = run.answer if status == "completed" else run.answer[: max(1, len(run.answer) // 2)]
        message = message_object(
            message_id=new_id("msg"),
            thread_id=run.thread_id,
            created_at=run.finished_at(),
            role="assistant",
            text=text,
            assistant_id=run.assistant_id,
            run_id=run.id,
            status=status,
            incomplete_reason="max_tokens" if status == "incomplete" else None,
        )
        self.threads[run.thread_id].messages.append(message)

    def settle_thread(self, thread: ThreadRecord, now: float) -> None:
        for run_id in thread.run_ids:
            self.settle(self.runs[run_id], now)

    def add_response(self, record: ResponseRecord) -> None:
        if not record.store:
            return
        self.responses[record.id] = record
        if len(self.responses) > MAX_STORED:
            self.responses.popitem(last=False)
