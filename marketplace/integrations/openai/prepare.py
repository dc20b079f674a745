"""Before a batch's calls (run.py, step 1): each execution's checks, with what the batch
shares read once (`Lookups`), turn it into a ready `Call` or the `Failure` it ends with
(no call is made). Database reads happen here, never in the call threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.utils.translation import gettext as _

from crm.models import Account
from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai import pricing, versions
from marketplace.integrations.openai.client import connection_client
from marketplace.integrations.openai.datacontrols import masking_on
from marketplace.integrations.openai.engines import AssistantEngine, engine_for
from marketplace.integrations.openai.limiter import policy
from marketplace.integrations.openai.limiter.budget import BudgetLine, Reservation
from marketplace.integrations.openai.limiter.window import estimate_tokens
from marketplace.integrations.openai.services import models_for_builders
from marketplace.integrations.openai.specs import (
    AssistantRequest,
    AssistantSpec,
    Overrides,
    Usage,
)
from marketplace.integrations.openai.tools import ToolScope, functions_for
from marketplace.integrations.openai.usage import budget_lines, budget_reached, prices_for
from marketplace.models import Connection
from workflows.context import ExecutionContext
from workflows.models import Workflow
from workflows.outcomes import Failure

if TYPE_CHECKING:
    # Imported where it is used: the SDK costs a process ~30 MB and ~1 s to load, and
    # the web, beat and default workers never call OpenAI.
    import openai

NOT_CONNECTED = (
    "OpenAI app is not connected. A super admin can install it from the App Marketplace "
    "(Settings › Integrations › Connected apps), then replay the failed runs."
)


T = TypeVar("T")


@dataclass(frozen=True)
class BudgetRefused(Failure):
    """A failure because a monthly budget is reached (no call was made): the engine
    fails the step as any failure; an evaluation stops (evaluations.py)."""


def workflow_name(context: ExecutionContext) -> str:
    return str(context.workflow.name) if context.workflow is not None else _("(test)")


class Lookups:
    """What the executions of one batch share, read once: connections, allowed models,
    assistants, budgets and prices. A budget is checked once per batch, so a batch
    started under its cap may pass it by at most one batch of calls."""

    def __init__(self) -> None:
        self._cache: dict[tuple[object, ...], object] = {}

    def _get(self, key: tuple[object, ...], read: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = read()
        return cast(T, self._cache[key])

    def connection(self, account: Account) -> Connection | None:
        return self._get(
            ("connection", account.pk), lambda: assistants_mod.connection_for_account(account)
        )

    def models(self, connection: Connection) -> list[str]:
        return self._get(("models", connection.pk), lambda: models_for_builders(connection))

    def budget_reached(self, connection: Connection, workflow: Workflow | None) -> str | None:
        return self._get(
            ("budget", connection.pk, workflow.pk if workflow else None),
            lambda: budget_reached(connection=connection, workflow=workflow),
        )

    def budget_lines(
        self, connection: Connection, workflow: Workflow | None
    ) -> tuple[BudgetLine, ...]:
        return self._get(
            ("budget_lines", connection.pk, workflow.pk if workflow else None),
            lambda: budget_lines(connection=connection, workflow=workflow),
        )

    def prices(self, account: Account) -> dict[str, pricing.ModelPrice]:
        return self._get(("prices", account.pk), lambda: prices_for(account=account))

    def spec(
        self,
        account: Account,
        connection: Connection,
        selection: assistants_mod.Selection,
        pin: object = None,
    ) -> tuple[AssistantSpec, int | None] | None:
        """The assistant to run and, for a workspace assistant, the id of the version
        it sends: the step's pinned version (versions.py), the newest when it pins
        none. None when a workspace assistant is archived or gone."""

        def read() -> tuple[AssistantSpec, int | None] | None:
            if selection.kind == assistants_mod.WORKSPACE:
                assistant = assistants_mod.workspace_assistant_for(account, selection)
                if assistant is None:
                    return None
                version = versions.pinned_version(
                    account, {versions.CONFIG_KEY: pin}, assistant=assistant
                ) or versions.version_current(assistant)
                return versions.snapshot_spec(version.snapshot, name=assistant.name), version.pk
            known = assistants_mod.account_assistant(
                connection=connection, assistant_id=selection.ident
            )
            spec = AssistantSpec(
                model=known.model if known else "",
                name=known.name if known else selection.ident,
                openai_assistant_id=selection.ident,
            )
            return spec, None

        return self._get(("spec", account.pk, connection.pk, selection.value, str(pin)), read)


@dataclass
class Call:
    """One execution's call, ready to go."""

    index: int
    context: ExecutionContext
    connection: Connection
    request: AssistantRequest
    client: openai.OpenAI
    key: str
    engine: AssistantEngine
    model: str
    prices: dict[str, pricing.ModelPrice]
    estimate: int
    requests: int
    budgets: tuple[BudgetLine, ...] = ()  # what the call reserves its estimate against
    estimate_usd: Decimal | None = None
    # The tool loop (run.py): what the tools may read (None: no tools), the rounds made
    # so far as the run history shows them, and what they spent.
    tool_scope: ToolScope | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    spent: list[Usage] = field(default_factory=list)
    requests_made: int = 0
    ends_at: float | None = None  # time.monotonic() of the deadline all rounds share

    def next_round(self, request: AssistantRequest) -> None:
        """Go on with `request` (the conversation so far): its permit's estimate grows
        with what is sent again."""
        self.request = request
        self.estimate = estimate_tokens(
            request.assistant.instructions,
            request.prompt,
            json.dumps(list(request.functions)),
            json.dumps(list(request.conversation)),
            output_allowance=request.overrides.max_output_tokens or OUTPUT_ALLOWANCE,
        )

    assistant_version_id: int | None = None
    # Economy mode's tier (economy.py): "batch" (answered through the Batch API) or
    # "flex" (sent on the Flex processing tier), both priced at the batch rate; "": none.
    # The budget reservation its batch request took, settled with the real cost.
    economy: str = ""
    reservation: Reservation | None = None
    # The step's fallback model (allowed, not the chosen one; None: none) and, once the
    # call went to it, why (run.py `_fallback_round`).
    fallback: str | None = None
    fell_back: str = ""
    # Resumable calls (run.py, engines.py `start`/`resume`): whether this one goes that
    # way, the id of the call OpenAI took on ("" none yet) and whether an earlier
    # attempt recorded it.
    resumable: bool = False
    ref: str = ""
    ref_earlier: bool = False


def _request(
    context: ExecutionContext, connection: Connection, lookups: Lookups
) -> tuple[AssistantRequest, int | None] | Failure:
    config = context.config
    selection = assistants_mod.selection_parse(config.get("assistant"))
    if selection is None:
        return Failure(
            _("No assistant is selected in workflow “%(workflow)s”.")
            % {"workflow": workflow_name(context)}
        )
    found = lookups.spec(context.account, connection, selection, config.get(versions.CONFIG_KEY))
    if found is None:
        return Failure(
            _(
                "The assistant selected in workflow “%(workflow)s” was archived or deleted. "
                "Choose another assistant, then replay the failed runs."
            )
            % {"workflow": workflow_name(context)}
        )
    spec, version_id = found
    temperature = config.get("temperature")
    overrides = Overrides(
        model=(config.get("model") or "").strip() or None,
        temperature=float(temperature) if temperature not in (None, "") else None,
        reasoning_effort=config.get("reasoning_effort") or None,
        max_output_tokens=positive(config.get("max_output_tokens")),
    )
    prompt, cut = prompt_cut(config.get("prompt") or "", positive(config.get("max_input_chars")))
    metadata = {"crmflow_workflow": str(context.workflow.pk)} if context.workflow else {}
    if context.execution_id:
        metadata["crmflow_execution"] = str(context.execution_id)
    functions = functions_for(spec.tools) if not spec.openai_assistant_id else ()
    request = AssistantRequest(
        assistant=spec,
        prompt=prompt,
        input_cut=cut,
        overrides=overrides,
        metadata=metadata,
        functions=functions,
        tool_choice="none" if functions and spec.max_tool_rounds <= 1 else None,
    )
    return request, version_id


# Tokens an answer is assumed to take when the step does not cap them (max output tokens).
OUTPUT_ALLOWANCE = 256

# What the model reads where a prompt was cut to the step's max input characters.
CUT_NOTE = "\n\n[The rest of this input was cut: {cut} characters left out.]"


def positive(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def prompt_cut(prompt: str, max_chars: int | None) -> tuple[str, int]:
    """`prompt` cut to `max_chars` characters with a note saying so, and how many
    characters were left out (0: nothing was cut)."""
    if not max_chars or len(prompt) <= max_chars:
        return prompt, 0
    cut = len(prompt) - max_chars
    return prompt[:max_chars] + CUT_NOTE.format(cut=cut), cut


def input_note(config: dict, cut: int) -> str:
    """What the run detail says about a cut prompt."""
    return _("The prompt was cut to the step's %(kept)s characters: %(cut)s left out.") % {
        "kept": positive(config.get("max_input_chars")),
        "cut": cut,
    }


def _sdk_warm(client: openai.OpenAI) -> None:
    """Load the SDK's resource modules before taking a permit: the first call in a
    process otherwise spends ~0.5 s (seconds on a loaded machine) importing them
    between its permit and its request, and the limiter's 1.5 s margin assumes a
    request reaches OpenAI promptly after its permit."""
    _ = client.responses, client.beta.threads.runs, client.beta.threads.messages


def call_prepare(index: int, context: ExecutionContext, lookups: Lookups) -> Call | Failure:
    """Everything before the call (database reads, checks): the call, or the failure
    the execution ends with."""
    connection = lookups.connection(context.account)
    if connection is None or not connection.is_installed or not connection.encrypted_secret:
        return Failure(NOT_CONNECTED)
    if connection.needs_attention:
        return Failure(
            _(
                "OpenAI rejected the stored API key. A super admin must reconnect the OpenAI "
                "app with a valid key, then replay the failed runs."
            )
        )
    prepared = _request(context, connection, lookups)
    if isinstance(prepared, Failure):
        return prepared
    request, version_id = prepared
    model = request.model
    if model and model not in lookups.models(connection):
        return Failure(
            _(
                "The model “%(model)s” used by workflow “%(workflow)s” is no longer allowed "
                "for workflows. Choose another model or ask a super admin to allow it."
            )
            % {"model": model, "workflow": workflow_name(context)}
        )
    message = lookups.budget_reached(connection, context.workflow)
    if message:
        return BudgetRefused(message)
    prices = lookups.prices(context.account)
    estimate = estimate_tokens(
        request.assistant.instructions,
        request.prompt,
        json.dumps(list(request.functions)),
        output_allowance=request.overrides.max_output_tokens or OUTPUT_ALLOWANCE,
    )
    client = connection_client(connection)
    _sdk_warm(client)
    engine = engine_for(request)
    scope = None
    if request.functions:
        scope = ToolScope(
            account=context.account,
            allowed_tools=frozenset(request.assistant.tools),
            mask=masking_on(context.account),
        )
    fallback = (context.config.get("fallback_model") or "").strip()
    if not fallback or fallback == model or fallback not in lookups.models(connection):
        fallback = ""
    return Call(
        fallback=fallback or None,
        index=index,
        context=context,
        connection=connection,
        request=request,
        client=client,
        key=assistants_mod.connection_key(connection),
        engine=engine,
        model=model or "assistant",
        prices=prices,
        estimate=estimate,
        requests=policy.permits_for(engine.name),
        budgets=lookups.budget_lines(connection, context.workflow),
        # Every token at the output price: an upper bound for the budgets.
        estimate_usd=pricing.quote(model, Usage(output_tokens=estimate), prices).usd,
        tool_scope=scope,
        assistant_version_id=version_id,
    )
