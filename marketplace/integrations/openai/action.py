"""The "Ask OpenAI assistant" workflow action (section "OpenAI integration").

The engine runs it in batches (`execute_many`, outside any transaction): the checks of
every execution first — connection, assistant, model, budgets, read once per batch —
then the worker's database connection is released and every call starts at once in the
process's call threads; each takes a permit from the shared rate limiter right before
it leaves (limiter/policy.py decides when it waits, where, and for how long) and runs
through an engine with our own deadline. What finished is handed back in groups;
`apply_many` writes their AssistantUsage rows in the completion transaction. `execute`
is a batch of one (the builder's Test button).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai.client import connection_client
from marketplace.integrations.openai.engines import engine_for
from marketplace.integrations.openai.errors import QUOTA_MESSAGE, AssistantError, ErrorKind
from marketplace.integrations.openai.limiter import policy
from marketplace.integrations.openai.limiter.window import Wait, estimate_tokens
from marketplace.integrations.openai.models import (
    AssistantUsage,
    ReasoningEffort,
    WorkspaceAssistant,
)
from marketplace.integrations.openai.notifications import admins_notify
from marketplace.integrations.openai.pricing import quote
from marketplace.integrations.openai.services import models_for_builders
from marketplace.integrations.openai.specs import (
    AssistantRequest,
    AssistantResult,
    AssistantSpec,
    FieldType,
    Overrides,
    Usage,
)
from marketplace.integrations.openai.usage import budget_reached, prices_for
from workflows.conf import tunable
from workflows.context import ExecutionContext
from workflows.outcomes import (
    Failure,
    Outcome,
    PermanentError,
    Retry,
    Success,
    TransientError,
    outcome_of,
)
from workflows.registry import ActionType, Output, OutputType, StepDescription, value_text

KEY = "ask_openai_assistant"
SECTION = "openai"

# Our own deadline on one call (a run polls within it). Below the Celery soft time
# limit (150 s). Setting or environment OPENAI_ASSISTANT_DEADLINE_SECONDS.
DEFAULT_DEADLINE_SECONDS = 120.0
# Batches (execute_many): executions run at once per batch (OPENAI_BATCH_SIZE), threads
# for calls per process, how long after a batch's first answer the others are awaited
# before what finished is completed, and how long past our deadline (and the longest
# permit wait) a call is awaited.
DEFAULT_BATCH_SIZE = 64
MAX_CONCURRENT_CALLS = 1024
GROUP_SECONDS = 0.2
STUCK_GRACE_SECONDS = 15.0

NOT_CONNECTED = (
    "OpenAI app is not connected. A super admin can install it from the App Marketplace "
    "(Settings › Integrations › Connected apps), then replay the failed runs."
)

_FIELD_OUTPUT_TYPE = {
    FieldType.TEXT: OutputType.TEXT,
    FieldType.NUMBER: OutputType.NUMBER,
    FieldType.BOOLEAN: OutputType.BOOLEAN,
    FieldType.ENUMERATION: OutputType.TEXT,
}

BASE_OUTPUTS = (
    Output("response", gettext_lazy("Response"), OutputType.TEXT),
    Output("model", gettext_lazy("Model used"), OutputType.TEXT),
    Output("total_tokens", gettext_lazy("Total tokens"), OutputType.NUMBER),
)


class AskAssistantForm(forms.Form):
    # Choices are filled by the builder from assistants.assistant_choices(); the stored
    # value is "ws:<id>" or "acct:<OpenAI assistant id>".
    assistant = forms.CharField(label=gettext_lazy("Assistant selection"), max_length=120)
    prompt = forms.CharField(label=gettext_lazy("Prompt"), widget=forms.Textarea, max_length=20000)
    model = forms.CharField(
        label=gettext_lazy("Model selection"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Empty: the assistant's own model."),
    )
    temperature = forms.FloatField(
        label=gettext_lazy("Temperature"),
        required=False,
        min_value=0.0,
        max_value=2.0,
        help_text=gettext_lazy(
            "Lower is more predictable, higher more creative. Reasoning models ignore it."
        ),
    )
    reasoning_effort = forms.ChoiceField(
        label=gettext_lazy("Reasoning effort"),
        required=False,
        choices=[("", "—"), *ReasoningEffort.choices],
        help_text=gettext_lazy("Only for reasoning models."),
    )


_calls_pool_lock = threading.Lock()


def _sdk_warm(client) -> None:
    """Load the SDK's resource modules before taking a permit: the first call in a
    process otherwise spends ~0.5 s (seconds on a loaded machine) importing them
    between its permit and its request, and the limiter's 1.5 s margin assumes a
    request reaches OpenAI promptly after its permit."""
    _ = client.responses, client.beta.threads.runs, client.beta.threads.messages


def deadline_seconds() -> float:
    return tunable("OPENAI_ASSISTANT_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS)


def _number_text(value) -> str:
    """A stored temperature as a number ("0.2", "1"); as stored if it is not one."""
    if value in (None, ""):
        return ""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return value_text(value)


def _workflow_name(context: ExecutionContext) -> str:
    return context.workflow.name if context.workflow is not None else _("(test)")


def batch_size() -> int:
    """Executions of this action one batch runs at once (setting or environment
    OPENAI_BATCH_SIZE). A worker thread runs one batch at a time, so an `assistant`
    worker keeps up to its concurrency × this many calls in flight."""
    return max(tunable("OPENAI_BATCH_SIZE", DEFAULT_BATCH_SIZE), 1)


_calls_pool: ThreadPoolExecutor | None = None


def calls_pool() -> ThreadPoolExecutor:
    """The process's threads for OpenAI calls, shared by every batch. They never touch
    the database (only HTTP and the Redis rate limiter); idle ones are reused."""
    global _calls_pool
    with _calls_pool_lock:
        if _calls_pool is None:
            _calls_pool = ThreadPoolExecutor(
                max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="openai-call"
            )
        return _calls_pool


@dataclass
class _Call:
    """One execution's call, ready to go."""

    index: int
    context: ExecutionContext
    connection: Any
    request: AssistantRequest
    client: Any
    key: str
    engine: Any
    model: str
    prices: dict
    estimate: int
    requests: int


def _call_run(call: _Call) -> AssistantResult | AssistantError | Wait:
    """In a call thread: a permit (or how long to wait), then the call, then what its
    answer taught the limiter. No database access here."""
    context = call.context
    permit = policy.permit_take(
        key=call.key,
        model=call.model,
        tokens=call.estimate,
        requests=call.requests,
        waiter=f"exec:{context.execution_id}" if context.execution_id else None,
    )
    if isinstance(permit, Wait):
        return permit
    seconds = deadline_seconds()
    try:
        with policy.sending(policy.limiter(), permit, deadline=time.monotonic() + seconds):
            result = call.engine.run(call.client, call.request, deadline=seconds)
    except AssistantError as error:
        policy.answer_record(
            permit, key=call.key, model=call.model, headers=error.rate_limit_headers, tokens=0
        )
        return error
    policy.answer_record(
        permit,
        key=call.key,
        model=call.model,
        headers=result.rate_limit_headers,
        tokens=result.usage.total_tokens,
    )
    return result


class _Lookups:
    """What the executions of one batch share, read once: connections, allowed models,
    assistants, budgets and prices. A budget is checked once per batch, so a batch
    started under its cap may pass it by at most one batch of calls."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}

    def _get(self, key: tuple, read):
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def connection(self, account):
        return self._get(
            ("connection", account.pk), lambda: assistants_mod.connection_for_account(account)
        )

    def models(self, connection) -> list[str]:
        return self._get(("models", connection.pk), lambda: models_for_builders(connection))

    def budget_reached(self, connection, workflow) -> str | None:
        return self._get(
            ("budget", connection.pk, workflow.pk if workflow else None),
            lambda: budget_reached(connection=connection, workflow=workflow),
        )

    def prices(self, account) -> dict:
        return self._get(("prices", account.pk), lambda: prices_for(account=account))

    def spec(self, account, connection, selection) -> AssistantSpec | None:
        """The assistant to run; None when a workspace assistant is archived or gone."""

        def read() -> AssistantSpec | None:
            if selection.kind == assistants_mod.WORKSPACE:
                assistant = assistants_mod.workspace_assistant_for(account, selection)
                if assistant is None:
                    return None
                return AssistantSpec(
                    model=assistant.model,
                    instructions=assistant.instructions,
                    temperature=assistant.temperature,
                    reasoning_effort=assistant.reasoning_effort or None,
                    output_fields=assistant.fields(),
                    name=assistant.name,
                )
            known = assistants_mod.account_assistant(
                connection=connection, assistant_id=selection.ident
            )
            return AssistantSpec(
                model=known.model if known else "",
                name=known.name if known else selection.ident,
                openai_assistant_id=selection.ident,
            )

        return self._get(("spec", account.pk, connection.pk, selection.value), read)


class AskOpenAIAssistant(ActionType):
    key = KEY
    label = gettext_lazy("Ask OpenAI assistant")
    section = SECTION
    queue = "assistant"
    # A batch's calls run at once, each within our deadline (execute_many).
    batchable = True
    concurrent = True
    config_form = AskAssistantForm
    outputs = BASE_OUTPUTS
    # Not templates: only the prompt takes data tokens.
    raw_config_keys = frozenset({"assistant", "model", "temperature", "reasoning_effort"})

    # --- The builder ----------------------------------------------------------------

    def builder_form(self, config, *, account, object_type) -> forms.Form:
        """The config form with the account's choices: one Assistant selection dropdown
        (workspace and OpenAI account assistants) and the models admins allow."""
        form = AskAssistantForm(initial=config)
        form.fields["assistant"] = forms.ChoiceField(
            label=gettext_lazy("Assistant selection"),
            choices=assistants_mod.assistant_choices(account=account).as_choices(),
        )
        connection = assistants_mod.connection_for_account(account)
        allowed = (
            models_for_builders(connection)
            if connection is not None and connection.is_installed
            else []
        )
        current = (config or {}).get("model") or ""
        if current and current not in allowed:
            allowed = [current, *allowed]  # keep what is saved visible; review flags it
        form.fields["model"] = forms.ChoiceField(
            label=gettext_lazy("Model selection"),
            required=False,
            choices=[("", _("The assistant's own model")), *[(m, m) for m in allowed]],
            help_text=gettext_lazy("Empty: the assistant's own model."),
        )
        form.advanced_fields = ("model", "temperature", "reasoning_effort")
        form.advanced_label = _("Advanced API parameters")
        return form

    def builder_panel_extra(self, config, *, workflow, user) -> str:
        """The "Test" section (record picker and button) for builders and super admins."""
        if not getattr(user, "can_edit_workflows", False):
            return ""
        from marketplace.integrations.openai.views_assistants import action_test_panel

        return action_test_panel(workflow=workflow)

    def token_fields(self, config, *, definitions) -> dict[str, str]:
        return {"prompt": "text"}

    def validate_config(self, config, *, account, object_type):
        clean = super().validate_config(config, account=account, object_type=object_type)
        selection = assistants_mod.selection_parse(clean.get("assistant"))
        if selection is None:
            raise ValidationError(_("Choose an assistant."))
        if (
            selection.kind == assistants_mod.WORKSPACE
            and assistants_mod.workspace_assistant_for(account, selection, include_archived=True)
            is None
        ):
            raise ValidationError(_("Choose an assistant."))
        model = (clean.get("model") or "").strip()
        clean["model"] = model
        if model:
            connection = assistants_mod.connection_for_account(account)
            if (
                connection is not None
                and connection.is_installed
                and model not in models_for_builders(connection)
            ):
                raise ValidationError(
                    _("The model “%(model)s” is not allowed for workflows. Choose another one.")
                    % {"model": model}
                )
        return clean

    def outputs_for(self, config, account) -> tuple[Output, ...]:
        """Response, model and tokens, plus the chosen workspace assistant's fields."""
        selection = assistants_mod.selection_parse((config or {}).get("assistant"))
        if selection is None or selection.kind != assistants_mod.WORKSPACE:
            return BASE_OUTPUTS
        assistant = assistants_mod.workspace_assistant_for(
            account, selection, include_archived=True
        )
        if assistant is None:
            return BASE_OUTPUTS
        return BASE_OUTPUTS + tuple(
            Output(f.name, f.name, _FIELD_OUTPUT_TYPE[f.type]) for f in assistant.fields()
        )

    def review_problems(self, config, account) -> list[str]:
        """What stops this step from running (its section reports "not connected")."""
        problems: list[str] = []
        connection = assistants_mod.connection_for_account(account)
        if connection is not None and connection.is_installed and connection.needs_attention:
            problems.append(_("The OpenAI app needs attention: reconnect it with a valid key."))
        selection = assistants_mod.selection_parse((config or {}).get("assistant"))
        assistant = None
        if selection is None:
            problems.append(_("No assistant is selected."))
        elif selection.kind == assistants_mod.WORKSPACE:
            assistant = assistants_mod.workspace_assistant_for(
                account, selection, include_archived=True
            )
            if assistant is None:
                problems.append(_("The selected assistant was deleted."))
            elif assistant.is_archived:
                problems.append(
                    _("The assistant “%(name)s” is archived.") % {"name": assistant.name}
                )
        elif connection is not None and connection.is_installed:
            choices = assistants_mod.assistant_choices(account=account)
            if not choices.account_available:
                problems.append(
                    _("OpenAI account assistants are not available: %(why)s")
                    % {"why": choices.account_note or "—"}
                )
            elif selection.value not in dict(choices.account):
                problems.append(_("The selected OpenAI assistant no longer exists."))
        if connection is not None and connection.is_installed:
            allowed = set(models_for_builders(connection))
            for model in {(config or {}).get("model") or "", assistant.model if assistant else ""}:
                if model and model not in allowed:
                    problems.append(
                        _("The model “%(model)s” is no longer allowed.") % {"model": model}
                    )
        return problems

    def describe_inputs(self, config, *, account, names: dict[str, str] | None = None):
        """The step's inputs in the builder's words: the assistant's name (not `ws:12`),
        "The assistant's own model" for an empty model, the reasoning effort's label,
        and the temperature as a number (an empty value shows as "—"). `names` (stored
        selection → name) comes from describe_steps, which reads them for all the page's
        steps at once."""
        if names is None:
            names = assistants_mod.selection_names(account, [config.get("assistant")])
        shown: dict[str, Any] = {}
        if "assistant" in config:
            value = config["assistant"]
            shown["assistant"] = names.get(value, value) if isinstance(value, str) else value
        if "model" in config and not config["model"]:
            shown["model"] = _("The assistant's own model")
        if "temperature" in config:
            shown["temperature"] = _number_text(config["temperature"])
        if "reasoning_effort" in config:
            effort = config["reasoning_effort"]
            shown["reasoning_effort"] = (
                str(ReasoningEffort(effort).label) if effort in ReasoningEffort.values else effort
            )
        described = super().describe_inputs({**config, **shown}, account=account)
        if "reasoning_effort" in config and not config["reasoning_effort"]:
            # Empty, as every empty input shows (not the dropdown's "—" as a value).
            label = str(AskAssistantForm.base_fields["reasoning_effort"].label)
            described = [(name, "" if name == label else text) for name, text in described]
        return described

    def describe_steps(self, configs, *, account) -> list[StepDescription]:
        """All the page's Ask steps with one query for their assistants. The outputs are
        labelled as in `outputs_for`, whose structured fields are labelled by their names:
        the history shows an output it is not given a label for by its name, so
        the base outputs' labels suffice (and need no query per step)."""
        names = assistants_mod.selection_names(account, [c.get("assistant") for c in configs])
        labels = {output.name: str(output.label) for output in BASE_OUTPUTS}
        return [
            StepDescription(self.describe_inputs(c, account=account, names=names), labels)
            for c in configs
        ]

    # --- The run --------------------------------------------------------------------

    def batch_limit(self) -> int:
        return batch_size()

    def _request(
        self, context: ExecutionContext, connection, lookups: _Lookups
    ) -> AssistantRequest:
        config = context.config
        selection = assistants_mod.selection_parse(config.get("assistant"))
        if selection is None:
            raise PermanentError(
                _("No assistant is selected in workflow “%(workflow)s”.")
                % {"workflow": _workflow_name(context)}
            )
        spec = lookups.spec(context.account, connection, selection)
        if spec is None:
            raise PermanentError(
                _(
                    "The assistant selected in workflow “%(workflow)s” was archived or deleted. "
                    "Choose another assistant, then replay the failed runs."
                )
                % {"workflow": _workflow_name(context)}
            )
        temperature = config.get("temperature")
        overrides = Overrides(
            model=(config.get("model") or "").strip() or None,
            temperature=float(temperature) if temperature not in (None, "") else None,
            reasoning_effort=config.get("reasoning_effort") or None,
        )
        metadata = {"crmflow_workflow": str(context.workflow.pk)} if context.workflow else {}
        if context.execution_id:
            metadata["crmflow_execution"] = str(context.execution_id)
        return AssistantRequest(
            assistant=spec,
            prompt=config.get("prompt") or "",
            overrides=overrides,
            metadata=metadata,
        )

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        """One call (the builder's Test button): outputs, or the error it ended with."""
        for group in self.execute_many([context]):
            for _index, outcome in group:
                if isinstance(outcome, Success):
                    return outcome.outputs
                if isinstance(outcome, Failure):
                    raise PermanentError(outcome.message)
                raise TransientError(outcome.message, retry_after=outcome.after)
        raise TransientError(_("The action took too long."))  # pragma: no cover - always one

    def execute_many(self, contexts: list[ExecutionContext]) -> Iterator[list[tuple[int, Outcome]]]:
        """A batch: the checks for every execution first (what they share is read once),
        then every call at once in the process's call threads, each taking its rate-limit
        permit right before it leaves; no database connection is held while they run.
        Yields what finished in groups: the first finished call and whatever finishes
        within GROUP_SECONDS after it (the engine completes each group in one
        transaction)."""
        lookups = _Lookups()
        calls: list[_Call] = []
        refused: list[tuple[int, Outcome]] = []
        for index, context in enumerate(contexts):
            try:
                calls.append(self._prepare(index, context, lookups))
            except Exception as error:  # noqa: BLE001 - outcome_of classifies it
                refused.append((index, outcome_of(error)))
        if calls:
            contexts[0].release_db_connection()  # no connection is held during the calls
        futures = {calls_pool().submit(_call_run, call): call for call in calls}
        if refused:
            yield refused
        pending = set(futures)
        # A call may first wait for its promised slot, then run until our deadline.
        give_up = (
            time.monotonic()
            + policy.longest_wait_seconds()
            + deadline_seconds()
            + STUCK_GRACE_SECONDS
        )
        while pending:
            contexts[0].release_db_connection()  # completing the last group reopened it
            done, pending = wait(
                pending, timeout=max(give_up - time.monotonic(), 0), return_when=FIRST_COMPLETED
            )
            if not done:  # past our own deadline: never wait on a call forever
                yield [(futures[f].index, Retry(_("The action took too long."))) for f in pending]
                return
            if pending:
                more, pending = wait(pending, timeout=GROUP_SECONDS)
                done |= more
            yield [(futures[f].index, self._finish(futures[f], f)) for f in done]

    def _prepare(self, index: int, context: ExecutionContext, lookups: _Lookups) -> _Call:
        """Everything before the call (database reads, checks): raises what the
        execution should fail or be retried with."""
        connection = lookups.connection(context.account)
        if connection is None or not connection.is_installed or not connection.encrypted_secret:
            raise PermanentError(NOT_CONNECTED)
        if connection.needs_attention:
            raise PermanentError(
                _(
                    "OpenAI rejected the stored API key. A super admin must reconnect the OpenAI "
                    "app with a valid key, then replay the failed runs."
                )
            )
        request = self._request(context, connection, lookups)
        model = request.model
        if model and model not in lookups.models(connection):
            raise PermanentError(
                _(
                    "The model “%(model)s” used by workflow “%(workflow)s” is no longer allowed "
                    "for workflows. Choose another model or ask a super admin to allow it."
                )
                % {"model": model, "workflow": _workflow_name(context)}
            )
        message = lookups.budget_reached(connection, context.workflow)
        if message:
            raise PermanentError(message)
        client = connection_client(connection)
        _sdk_warm(client)
        engine = engine_for(request)
        return _Call(
            index=index,
            context=context,
            connection=connection,
            request=request,
            client=client,
            key=assistants_mod.connection_key(connection),
            engine=engine,
            model=model or "assistant",
            prices=lookups.prices(context.account),
            estimate=estimate_tokens(request.assistant.instructions, request.prompt),
            requests=policy.permits_for(engine.name),
        )

    def _finish(self, call: _Call, future: Future) -> Outcome:
        """What one call's answer makes of its execution: outputs, a retry (not counted
        when no permit was had) or a failure."""
        context = call.context
        try:
            outcome = future.result()
            if isinstance(outcome, Wait):
                if context.is_test:
                    return Retry(
                        _(
                            "OpenAI's rate limit is in use by running workflows; "
                            "try again in %(s).0f s."
                        )
                        % {"s": outcome.seconds + 0.5}
                    )
                return Retry(
                    "",
                    at=timezone.now() + dt.timedelta(seconds=policy.postpone_seconds(outcome)),
                    counts_attempt=False,
                )
            if isinstance(outcome, AssistantError):
                return self._failure(context, call.connection, outcome)
            result: AssistantResult = outcome
            price = quote(result.model, result.usage, call.prices)
            context.usage.update(
                _usage_dict(
                    result.usage,
                    model=result.model,
                    engine=result.engine,
                    connection_id=call.connection.pk,
                    cost=price.usd,
                    cost_note=price.reason,
                    requests=result.http_requests,
                )
            )
            outputs = {
                "response": result.text,
                "model": result.model,
                "total_tokens": result.usage.total_tokens,
            }
            if result.structured:
                outputs.update({k: v for k, v in result.structured.items() if k not in outputs})
            return Success(outputs)
        except Exception as error:  # noqa: BLE001 - a bug or Redis down: retried
            return outcome_of(error)

    def _failure(self, context: ExecutionContext, connection, error: AssistantError) -> Outcome:
        if error.kind == ErrorKind.RATE_LIMITED:
            policy.rate_limited(assistants_mod.connection_key(connection), error.retry_after)
        if error.transient:
            return Retry(str(error), after=error.retry_after)
        if error.kind == ErrorKind.QUOTA:
            admins_notify(
                connection=connection,
                key=f"openai-quota:{connection.pk}:{timezone.now():%Y-%m-%d}",
                title=_("Your OpenAI account is out of quota"),
                body=str(QUOTA_MESSAGE),
            )
            return Failure(str(QUOTA_MESSAGE))
        if error.kind == ErrorKind.AUTH:
            from marketplace.services import connection_mark_needs_attention

            connection_mark_needs_attention(connection=connection, reason=str(error))
            return Failure(str(error))
        if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST):
            return Failure(
                _("%(error)s (workflow “%(workflow)s”)")
                % {"error": str(error), "workflow": _workflow_name(context)}
            )
        return Failure(str(error))

    def apply(self, context: ExecutionContext, outputs: dict[str, Any]) -> dict[str, Any]:
        return self.apply_many([(context, outputs)])[0]

    def apply_many(self, items):
        """One AssistantUsage row per execution, all in one INSERT (unique per
        execution: a second completion of the same one fails and rolls back)."""
        AssistantUsage.objects.bulk_create(
            [
                AssistantUsage(
                    account=context.account,
                    connection_id=usage.get("connection_id"),
                    workflow=context.workflow,
                    execution_id=context.execution_id,
                    engine=usage.get("engine", ""),
                    model=usage.get("model", ""),
                    input_tokens=usage.get("input_tokens", 0),
                    output_tokens=usage.get("output_tokens", 0),
                    reasoning_tokens=usage.get("reasoning_tokens", 0),
                    cached_tokens=usage.get("cached_tokens", 0),
                    total_tokens=usage.get("total_tokens", 0),
                    cost_usd=usage.get("cost_usd"),
                )
                for context, _outputs in items
                if context.execution_id is not None and (usage := context.usage)
            ]
        )
        return [outputs for _context, outputs in items]


def _usage_dict(
    usage: Usage,
    *,
    model: str,
    engine: str,
    connection_id: int,
    cost,
    cost_note: str,
    requests: int,
) -> dict[str, Any]:
    """What is stored on the execution (`ActionExecution.usage`, JSON): history shows it."""
    return {
        "model": model,
        "engine": engine,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cached_tokens": usage.cached_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": str(cost) if cost is not None else None,
        "cost_note": cost_note,
        "connection_id": connection_id,
        "http_requests": requests,
    }


def workflows_using_openai(connection):
    """Usage provider for marketplace.registry: the account's workflows with an Ask
    OpenAI assistant step and the models they run (the uninstall dialog and Model
    access list them before a change breaks them)."""
    from django.urls import reverse

    from marketplace.registry import AppUsage
    from workflows.models import Workflow

    assistant_models = dict(
        WorkspaceAssistant.objects.for_account(connection.account_id).values_list("pk", "model")
    )
    usages = []
    for workflow in Workflow.objects.filter(account_id=connection.account_id).only(
        "id", "name", "graph"
    ):
        steps = [
            s for s in (workflow.graph or {}).get("steps", {}).values() if s.get("type") == KEY
        ]
        if not steps:
            continue
        models = set()
        for step in steps:
            config = step.get("config") or {}
            selection = assistants_mod.selection_parse(config.get("assistant"))
            if config.get("model"):
                models.add(config["model"])
            elif selection is not None and selection.kind == assistants_mod.WORKSPACE:
                models.add(assistant_models.get(int(selection.ident), ""))
        usages.append(
            AppUsage(
                label=workflow.name,
                url=reverse("workflows:list"),
                models=frozenset(m for m in models if m),
            )
        )
    return usages
