"""Engines: one call to an assistant, through the Responses API or Assistants v2.

Both take an injected `openai.OpenAI` client (built once per connection per process by
the client factory, retries off), an `AssistantRequest` and a deadline in seconds of
our own, and either return an `AssistantResult` or raise an `AssistantError`
(errors.py). They never sleep longer than the deadline and never retry: retries,
rate limiting and accounting belong to the caller.

A call can also be made in two halves, so that its identity is known (and recorded by
the caller) before its answer is awaited: `start` has OpenAI take the call on (a
background response, stored; an Assistants run) and returns its `Started.ref`;
`resume(ref)` polls it until it ends and reads the answer, in this attempt or in a
later one that took the step over after its worker died (paid once). `can_resume`
says whether a request may go that way.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import httpx2
from django.utils.translation import gettext as _

from .errors import AssistantTimeout, RunFailed, classify
from .specs import (
    AssistantRequest,
    AssistantResult,
    Usage,
    json_schema,
    parse_structured,
    schema_name,
)

if TYPE_CHECKING:
    # Imported where it is used: the SDK costs a process ~30 MB and ~1 s to load, and
    # the web, beat and default workers never call OpenAI.
    import openai

# Failures OpenAI reports inside a run/response that may well pass on a later try.
_TRANSIENT_RUN_CODES = {"server_error", "rate_limit_exceeded"}
# A run in one of these will not change any more.
RUN_TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
_DEFAULT_POLL_S = 0.5
_CANCEL_TIMEOUT_S = 2.0
# Polling a background response: the first look after this, then each wait 1.5 times
# the last, up to the maximum (a one-second answer is read within a quarter second of
# being ready; a long one costs a request every 2 s).
_FIRST_POLL_S = 0.25
_MAX_POLL_S = 2.0
# Statuses of a response or run that is still being answered.
_UNDERWAY = {"queued", "in_progress", "cancelling"}


@dataclass(frozen=True)
class Started:
    """A call OpenAI has taken on and will answer (and bill) whether or not anyone
    reads it: `ref` (a response id, or "thread id/run id") is what `resume` reads."""

    ref: str
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    http_requests: int = 1


def _poll_waits() -> Any:
    wait = _FIRST_POLL_S
    while True:
        yield wait
        wait = min(wait * 1.5, _MAX_POLL_S)


def _poll_failed(exc: Exception) -> bool | None:
    """While polling a call already taken on: True when the request failed but the
    answer is not lost (poll again), None when OpenAI no longer knows it (404: start
    anew); anything else is raised as the call's error."""
    import openai

    if isinstance(exc, openai.NotFoundError):
        return None
    error = classify(exc)
    if error.transient:
        return True
    raise error from None


class AssistantEngine(Protocol):
    name: str

    def run(
        self, client: openai.OpenAI, request: AssistantRequest, *, deadline: float
    ) -> AssistantResult: ...

    def can_resume(self, request: AssistantRequest, *, store_allowed: bool) -> bool: ...

    def start(
        self, client: openai.OpenAI, request: AssistantRequest, *, deadline: float
    ) -> Started: ...

    def resume(
        self,
        client: openai.OpenAI,
        request: AssistantRequest,
        ref: str,
        *,
        deadline: float,
        earlier: bool = False,
    ) -> AssistantResult | None: ...


def engine_for(request: AssistantRequest) -> AssistantEngine:
    """Account assistants (an OpenAI assistant id) run on Assistants v2, the rest on Responses."""
    return AssistantsEngine() if request.assistant.openai_assistant_id else ResponsesEngine()


def _rate_limit_headers(headers: httpx2.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("x-ratelimit-")}


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.ends = self.started + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def client(self, client: openai.OpenAI, cap: float | None = None) -> openai.OpenAI:
        """The client with an HTTP timeout that ends at our deadline (a hanging server
        cannot hold the call longer)."""
        left = max(0.05, self.remaining() if cap is None else min(cap, self.remaining()))
        return client.with_options(
            timeout=httpx2.Timeout(left, connect=min(left, 5.0)), max_retries=0
        )

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def _structured(request: AssistantRequest, text: str) -> dict | None:
    fields = request.assistant.output_fields
    return parse_structured(text, fields) if fields else None


class ResponsesEngine:
    """Workspace assistants: one `POST /v1/responses`, nothing stored at OpenAI. With
    CRM tools, one such request is one round of the tool loop (run.py): an answer that
    asks for function calls comes back as `tool_calls`, and the next round sends the
    prompt, every call and every output again (stateless: `store` stays false).

    The SDK sends the request (auth, headers, timeouts, errors raised by status) through
    its generic `post`, and we read the JSON answer ourselves: its typed `create` walks
    every parameter's type hints to transform the body and builds a pydantic model of
    the answer, which took 0.6-1.5 ms of CPU a call with hundreds in flight, a third of
    the call (benchmarks/openai_call.py). The few fields read here are those of the API
    reference (and of the simulator's answers, validated against OpenAI's spec)."""

    name = "responses"

    def build_params(self, request: AssistantRequest) -> dict[str, Any]:
        spec = request.assistant
        params: dict[str, Any] = {"model": request.model, "input": request.prompt, "store": False}
        if request.conversation:  # a later round of the tool loop: the whole exchange again
            params["input"] = [
                {"role": "user", "content": request.prompt},
                *request.conversation,
            ]
        if request.functions:
            params["tools"] = list(request.functions)
            if request.tool_choice:
                params["tool_choice"] = request.tool_choice
        if spec.instructions:
            params["instructions"] = spec.instructions
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.reasoning_effort:
            params["reasoning"] = {"effort": request.reasoning_effort}
        if request.overrides.max_output_tokens:
            params["max_output_tokens"] = request.overrides.max_output_tokens
        if spec.output_fields:
            params["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": schema_name(spec.name),
                    "schema": json_schema(spec.output_fields),
                    "strict": True,
                }
            }
        if request.metadata:
            params["metadata"] = dict(request.metadata)
        if request.service_tier:
            params["service_tier"] = request.service_tier
        return params

    def run(
        self, client: openai.OpenAI, request: AssistantRequest, *, deadline: float
    ) -> AssistantResult:
        import openai

        clock = _Deadline(deadline)
        try:
            raw = clock.client(client).post(
                "/responses", body=self.build_params(request), cast_to=httpx2.Response
            )
            response = _json_object(raw)  # a truncated body raises ValueError here
        except (openai.OpenAIError, ValueError) as exc:
            raise classify(exc) from None
        return self.result_from(
            request,
            response,
            headers=_rate_limit_headers(raw.headers),
            duration_ms=clock.elapsed_ms(),
        )

    def can_resume(self, request: AssistantRequest, *, store_allowed: bool) -> bool:
        """Only when the account lets OpenAI keep responses (Settings › AI data: a
        background response must be stored), and not in a tool loop (its rounds are
        rebuilt from the first one: nothing to resume there)."""
        return store_allowed and not request.functions and not request.conversation

    def start(
        self, client: openai.OpenAI, request: AssistantRequest, *, deadline: float
    ) -> Started:
        """`POST /v1/responses` with `background: true, store: true`: OpenAI answers at
        once with the response's id (status `queued`) and works on it."""
        import openai

        clock = _Deadline(deadline)
        body = {**self.build_params(request), "store": True, "background": True}
        try:
            raw = clock.client(client).post("/responses", body=body, cast_to=httpx2.Response)
            response = _json_object(raw)
            ref = response.get("id")
            if not isinstance(ref, str) or not ref:
                raise ValueError("the answer has no response id")
        except (openai.OpenAIError, ValueError) as exc:
            raise classify(exc) from None
        return Started(ref=ref, rate_limit_headers=_rate_limit_headers(raw.headers))

    def resume(
        self,
        client: openai.OpenAI,
        request: AssistantRequest,
        ref: str,
        *,
        deadline: float,
        earlier: bool = False,
    ) -> AssistantResult | None:
        """Poll the background response `ref` (`GET /v1/responses/{id}`) until it ends;
        its result, or its `RunFailed`. A failed poll (429, 5xx, cut connection) loses
        nothing: it polls again until the deadline (then `AssistantTimeout`: the next
        attempt resumes). None when there is nothing to read: OpenAI does not know the
        id (404), or — `earlier`, recorded by an earlier attempt — it ended without an
        answer (that attempt was retried for it): the caller starts a new one."""
        import openai

        clock = _Deadline(deadline)
        requests_made = 0
        for wait in _poll_waits():
            response = None
            try:
                requests_made += 1
                raw = clock.client(client).get(f"/responses/{ref}", cast_to=httpx2.Response)
                response = _json_object(raw)
            except (openai.OpenAIError, ValueError) as exc:
                if _poll_failed(exc) is None:
                    return None
            if response is not None and response.get("status") not in _UNDERWAY:
                if earlier and response.get("status") != "completed":
                    return None
                result = self.result_from(request, response, duration_ms=clock.elapsed_ms())
                return replace(result, http_requests=requests_made)
            if clock.remaining() <= 0.01:
                break
            time.sleep(min(wait, clock.remaining()))
        raise AssistantTimeout(_("OpenAI did not answer in time. The call will be retried."))

    def result_from(
        self,
        request: AssistantRequest,
        response: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        duration_ms: int = 0,
    ) -> AssistantResult:
        """The result of a response object (an answer, or a line of a batch's output
        file: economy.py), or the `RunFailed` of one that did not complete."""
        status = response.get("status")
        if status != "completed":
            raise _response_failure(response)
        calls = _function_calls(response)
        text = "" if calls else _output_text(response)
        usage = _object(response.get("usage"))
        return AssistantResult(
            text=text,
            structured=None if calls else _structured(request, text),
            tool_calls=calls,
            model=str(response.get("model") or request.model),
            usage=Usage(
                input_tokens=usage.get("input_tokens") or 0,
                output_tokens=usage.get("output_tokens") or 0,
                reasoning_tokens=_object(usage.get("output_tokens_details")).get("reasoning_tokens")
                or 0,
                cached_tokens=_object(usage.get("input_tokens_details")).get("cached_tokens") or 0,
            ),
            engine=self.name,
            response_id=str(response.get("id") or ""),
            rate_limit_headers=headers or {},
            http_requests=1,
            duration_ms=duration_ms,
        )


def _json_object(raw: httpx2.Response) -> dict[str, Any]:
    body = raw.json()
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    return body


def _object(value: Any) -> dict[str, Any]:
    """A field of the answer that should be an object (missing or null: empty)."""
    return value if isinstance(value, dict) else {}


def _function_calls(response: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The answer's `function_call` items, as the next round sends them back."""
    return tuple(
        {
            "type": "function_call",
            "call_id": str(item.get("call_id") or ""),
            "name": str(item.get("name") or ""),
            "arguments": str(item.get("arguments") or ""),
        }
        for item in response.get("output") or ()
        if isinstance(item, dict) and item.get("type") == "function_call"
    )


def _output_text(response: dict[str, Any]) -> str:
    """The text of every `output_text` part of the answer's messages (as the SDK's
    `Response.output_text`)."""
    return "".join(
        part["text"]
        for item in response.get("output") or ()
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    )


def _response_failure(response: dict[str, Any]) -> RunFailed:
    status = response.get("status")
    error = _object(response.get("error"))
    if status == "failed" and error:
        code = error.get("code")
        return RunFailed(
            f"OpenAI could not produce an answer ({code}): {error.get('message')}",
            status="failed",
            reason=code,
            transient=code in _TRANSIENT_RUN_CODES,
        )
    if status == "incomplete":
        reason = _object(response.get("incomplete_details")).get("reason")
        return RunFailed(
            f"OpenAI stopped before the answer was complete ({reason or 'no reason given'}).",
            status="incomplete",
            reason=reason,
        )
    return RunFailed(f"OpenAI's response ended with status '{status}'.", status=str(status))


class AssistantsEngine:
    """Account assistants: create a thread and run it, poll until the run ends, read
    the run's messages. On our deadline the run is cancelled and the call is transient."""

    name = "assistants"

    def build_params(self, request: AssistantRequest) -> dict[str, Any]:
        spec, overrides = request.assistant, request.overrides
        if not spec.openai_assistant_id:
            raise ValueError("AssistantsEngine needs an assistant with openai_assistant_id")
        params: dict[str, Any] = {
            "assistant_id": spec.openai_assistant_id,
            "thread": {"messages": [{"role": "user", "content": request.prompt}]},
        }
        # The assistant's own settings live at OpenAI: send only what the action overrides.
        if overrides.model:
            params["model"] = overrides.model
        if overrides.temperature is not None and request.temperature is not None:
            params["temperature"] = overrides.temperature
        if overrides.reasoning_effort and request.reasoning_effort:
            # Only a run on an existing thread takes it (CreateRunRequest; create-and-run
            # answers 400 unknown_parameter): `run` then makes the thread first.
            params["reasoning_effort"] = overrides.reasoning_effort
        if overrides.max_output_tokens:
            # Runs take at least 256 (CreateRunRequest.max_completion_tokens).
            params["max_completion_tokens"] = max(256, overrides.max_output_tokens)
        if spec.output_fields:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(spec.name),
                    "schema": json_schema(spec.output_fields),
                    "strict": True,
                },
            }
        if request.metadata:
            params["metadata"] = dict(request.metadata)
        return params

    def run(
        self, client: openai.OpenAI, request: AssistantRequest, *, deadline: float
    ) -> AssistantResult:
        import openai

        clock = _Deadline(deadline)
        params = self.build_params(request)
        requests_made = 0
        run = None
        try:
            raw, requests_made = _run_create(clock, client, params)
            run = raw.parse()
            headers = _rate_limit_headers(raw.headers)
            poll_after = raw.headers.get("openai-poll-after-ms")
            while run.status not in RUN_TERMINAL:
                wait = int(poll_after) / 1000 if poll_after else _DEFAULT_POLL_S
                if clock.remaining() <= 0.01:
                    raise AssistantTimeout(
                        "The OpenAI assistant did not finish in time. The call will be retried."
                    )
                time.sleep(min(wait, clock.remaining()))
                raw = clock.client(client).beta.threads.runs.with_raw_response.retrieve(
                    run.id, thread_id=run.thread_id
                )
                requests_made += 1
                run = raw.parse()
                poll_after = raw.headers.get("openai-poll-after-ms")
            if run.status != "completed":
                if run.status == "requires_action":
                    self._cancel(client, run)
                    requests_made += 1
                raise _run_failure(run)
            messages = clock.client(client).beta.threads.messages.list(
                run.thread_id, run_id=run.id, order="asc"
            )
            requests_made += 1
            text = _messages_text(messages)
        except (openai.OpenAIError, ValueError, AssistantTimeout) as exc:
            error = classify(exc)
            if (
                isinstance(error, AssistantTimeout)
                and run is not None
                and run.status not in RUN_TERMINAL
            ):
                self._cancel(client, run)  # do not leave it running (and billing) at OpenAI
            raise error from None
        return self._result(request, run, text, clock, requests_made, headers)

    def can_resume(self, request: AssistantRequest, *, store_allowed: bool) -> bool:
        """Always: a thread and its run live at OpenAI whatever `store` says (the
        Assistants API keeps them), so recording the run's id stores nothing more."""
        return True

    def start(
        self, client: openai.OpenAI, request: AssistantRequest, *, deadline: float
    ) -> Started:
        """Create the thread and its run (OpenAI answers as soon as the run is queued):
        the ref is "thread id/run id"."""
        import openai

        clock = _Deadline(deadline)
        params = self.build_params(request)
        requests_made = 0
        try:
            raw, requests_made = _run_create(clock, client, params)
            run = raw.parse()
        except (openai.OpenAIError, ValueError) as exc:
            raise classify(exc) from None
        return Started(
            ref=f"{run.thread_id}/{run.id}",
            rate_limit_headers=_rate_limit_headers(raw.headers),
            http_requests=requests_made,
        )

    def resume(
        self,
        client: openai.OpenAI,
        request: AssistantRequest,
        ref: str,
        *,
        deadline: float,
        earlier: bool = False,
    ) -> AssistantResult | None:
        """Poll the run `ref` until it ends, then read its messages (as `run` does).
        Failed polls are polled again until the deadline, which is not a cancellation
        here: the next attempt resumes the run. None when OpenAI does not know the run,
        or (`earlier`) it ended without an answer: the caller starts a new one."""
        import openai

        clock = _Deadline(deadline)
        thread_id, _sep, run_id = ref.partition("/")
        requests_made = 0
        run = None
        for wait in _poll_waits():
            try:
                requests_made += 1
                run = clock.client(client).beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            except (openai.OpenAIError, ValueError) as exc:
                if _poll_failed(exc) is None:
                    return None
            if run is not None and run.status in RUN_TERMINAL:
                break
            if clock.remaining() <= 0.01:
                raise AssistantTimeout(
                    _("OpenAI did not answer in time. The call will be retried.")
                )
            time.sleep(min(wait, clock.remaining()))
        assert run is not None  # the loop ends only on a terminal run
        if run.status != "completed":
            if earlier:
                return None
            if run.status == "requires_action":
                self._cancel(client, run)
            raise _run_failure(run)
        try:
            messages = clock.client(client).beta.threads.messages.list(
                run.thread_id, run_id=run.id, order="asc"
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise classify(exc) from None
        text = _messages_text(messages)
        return self._result(request, run, text, clock, requests_made + 1)

    def _result(
        self,
        request: AssistantRequest,
        run: Any,
        text: str,
        clock: _Deadline,
        requests_made: int,
        headers: dict[str, str] | None = None,
    ) -> AssistantResult:
        """An ended run and its messages' text as the engine's answer."""
        usage = run.usage
        return AssistantResult(
            text=text,
            structured=_structured(request, text),
            model=run.model,
            usage=Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)
            if usage
            else Usage(),
            engine=self.name,
            run_id=run.id,
            thread_id=run.thread_id,
            rate_limit_headers=headers or {},
            http_requests=requests_made,
            duration_ms=clock.elapsed_ms(),
        )

    @staticmethod
    def _cancel(client: openai.OpenAI, run) -> None:
        # Best effort: OpenAI expires abandoned runs on its own.
        import openai

        with contextlib.suppress(openai.OpenAIError, ValueError):
            client.with_options(timeout=_CANCEL_TIMEOUT_S, max_retries=0).beta.threads.runs.cancel(
                run.id, thread_id=run.thread_id
            )


def _run_create(clock: _Deadline, client: openai.OpenAI, params: dict[str, Any]) -> tuple[Any, int]:
    """Create the run (and its thread first when a reasoning effort is set: create-and-run
    does not take one). Returns the raw answer and the requests made."""
    if "reasoning_effort" in params:
        thread = clock.client(client).beta.threads.create(**params.pop("thread"))
        raw = clock.client(client).beta.threads.runs.with_raw_response.create(thread.id, **params)
        return raw, 2
    return clock.client(client).beta.threads.with_raw_response.create_and_run(**params), 1


def _messages_text(messages: Any) -> str:
    """The assistant's text parts of a run's messages."""
    return "\n\n".join(
        part.text.value
        for message in messages
        if message.role == "assistant"
        for part in message.content
        if part.type == "text"
    )


def _run_failure(run) -> RunFailed:
    status = run.status
    if status == "failed":
        error = run.last_error
        code = error.code if error else None
        detail = error.message if error else "no reason given"
        return RunFailed(
            f"The OpenAI assistant run failed ({code}): {detail}",
            status=status,
            reason=code,
            transient=code in _TRANSIENT_RUN_CODES,
        )
    if status == "incomplete":
        reason = run.incomplete_details.reason if run.incomplete_details else None
        return RunFailed(
            "The OpenAI assistant stopped before its answer was complete "
            f"({reason or 'no reason given'}).",
            status=status,
            reason=reason,
        )
    if status == "expired":
        return RunFailed(
            "The OpenAI assistant run expired before it finished. The call will be retried.",
            status=status,
            reason="expired",
            transient=True,
        )
    if status == "cancelled":
        return RunFailed(
            "The OpenAI assistant run was cancelled.", status=status, reason="cancelled"
        )
    if status == "requires_action":
        return RunFailed(
            "The OpenAI assistant asked to call a tool, which crmflow does not run. "
            "Remove the assistant's function tools or choose another assistant.",
            status=status,
            reason="requires_action",
        )
    return RunFailed(f"The OpenAI assistant run ended with status '{status}'.", status=str(status))
