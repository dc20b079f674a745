"""The "Ask OpenAI assistant" workflow action type (registered in apps.py): what the
workflow seams see, each hook handed to the module that owns it — the builder's to
builder.py, the Test section to test_panel.py, the run to run.py, the usage rows to
usage.py."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy

from crm.models import Account
from marketplace.integrations.openai import (
    assistants,
    builder,
    datacontrols,
    economy,
    evaluations,
    run,
    test_panel,
    usage,
    version_panel,
    versions,
)
from marketplace.integrations.openai.datacontrols import mask_text, masking_on
from marketplace.integrations.openai.listing import ACTION_KEY
from workflows.context import ExecutionContext
from workflows.models import Workflow
from workflows.outcomes import Outcome, Wait
from workflows.registry import ActionType, Output, StepDescription, StepUsage
from workflows.tokens import TokenResolver


class AskOpenAIAssistant(ActionType):
    key = ACTION_KEY
    label = gettext_lazy("Ask OpenAI assistant")
    section = builder.SECTION_KEY
    queue = "assistant"
    # A batch's calls run at once, each within our deadline (run.batch_run).
    batchable = True
    concurrent = True
    # Economy mode: OpenAI's Batch API (economy.py).
    economy = True
    config_form = builder.AskAssistantForm
    outputs = builder.BASE_OUTPUTS
    # Not templates: only the prompt takes data tokens.
    raw_config_keys = frozenset(
        {
            "assistant",
            "model",
            "fallback_model",
            "temperature",
            "reasoning_effort",
            versions.CONFIG_KEY,
        }
    )

    # --- The builder ----------------------------------------------------------------

    def builder_form(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> forms.Form:
        return builder.config_form(config, account=account)

    def economy_note(self, workflow: Workflow, step: dict[str, Any], count: int) -> str:
        return economy.budget_note(workflow, step.get("config") or {}, count)

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        return builder.config_check(clean, account=account)

    def token_fields(
        self, config: dict[str, Any], *, definitions: dict[str, Any]
    ) -> dict[str, str]:
        return {"prompt": "text"}

    def resolve_config(self, config: dict[str, Any], resolver: TokenResolver) -> dict[str, Any]:
        """The prompt as it is sent: a sensitive property's token gives "[withheld]",
        a property's value is cut to PROMPT_PROPERTY_MAX_CHARS characters (what a visitor
        typed into a public form reaches a paid call), and with masking on, emails, phone
        and card numbers are masked (datacontrols.py). The run history shows this, what
        OpenAI got."""
        resolver = resolver.withholding_sensitive().capping_properties(
            settings.PROMPT_PROPERTY_MAX_CHARS
        )
        resolved = super().resolve_config(config, resolver)
        prompt = resolved.get("prompt")
        if isinstance(prompt, str) and prompt and masking_on(resolver.record.account):
            resolved["prompt"] = mask_text(prompt)
        return resolved

    def outputs_for(self, config: dict[str, Any], account: Account) -> tuple[Output, ...]:
        return builder.step_outputs(config, account)

    def review_problems(self, config: dict[str, Any], account: Account) -> list[str]:
        return [
            *builder.step_problems(config, account),
            *datacontrols.withheld_tokens_problems(config.get("prompt") or "", account),
        ]

    def builder_panel_extra(
        self, config: dict[str, Any], *, workflow: Workflow, user: Any, step_id: int
    ) -> str:
        """For builders and super admins: "Assistant updated" when a newer version of
        the step's assistant exists, and the "Test" section."""
        if not getattr(user, "can_edit_workflows", False):
            return ""
        return format_html(
            "{}{}",
            version_panel.panel_html(config, workflow=workflow, step_id=step_id),
            test_panel.panel_html(workflow=workflow),
        )

    def config_pin(self, config: dict[str, Any], *, account: Account) -> dict[str, Any]:
        """The workspace assistant's version the step runs (versions.config_pin)."""
        return versions.config_pin(config, account=account)

    # --- The run history --------------------------------------------------------------

    def describe_inputs(
        self,
        config: dict[str, Any],
        *,
        account: Account,
        names: dict[str, str] | None = None,
        numbers: dict[int, int] | None = None,
    ) -> list[tuple[str, str]]:
        """The step's inputs in the builder's words (builder.config_shown). `names`
        (stored selection → name) comes from describe_steps, which reads them for all
        the page's steps at once."""
        if names is None:
            names = assistants.selection_names(account, [config.get("assistant")])
        if numbers is None:
            numbers = versions.version_numbers([config])
        return super().describe_inputs(
            builder.config_shown(config, names=names, numbers=numbers), account=account
        )

    def describe_steps(
        self, configs: list[dict[str, Any]], *, account: Account
    ) -> list[StepDescription]:
        """All the page's Ask steps with one query for their assistants and one for
        their versions. The outputs are labelled as in `outputs_for`: the base outputs,
        then each structured field by the label of the version the step pins (the
        history shows an output it has no label for by its name)."""
        names = assistants.selection_names(account, [c.get("assistant") for c in configs])
        numbers = versions.version_numbers(configs)
        field_labels = versions.version_field_labels(configs)
        labels = {output.name: str(output.label) for output in builder.BASE_OUTPUTS}
        labels["input_note"] = str(builder.INPUT_NOTE_LABEL)
        labels["fallback_note"] = str(builder.FALLBACK_NOTE_LABEL)
        return [
            StepDescription(
                self.describe_inputs(c, account=account, names=names, numbers=numbers),
                {**field_labels.get(_pin(c) or 0, {}), **labels},
                output_texts={
                    "response": functools.partial(response_text, field_labels.get(_pin(c) or 0, {}))
                },
            )
            for c in configs
        ]

    def step_detail_html(self, outputs: dict[str, Any]) -> str:
        """The step's tool rounds (tool, arguments, result as kept, tokens)."""
        rounds = outputs.get("_tool_rounds")
        if not isinstance(rounds, list) or not rounds:
            return ""
        return render_to_string(
            "marketplace_openai/tool_rounds.html",
            {"rounds": tool_rounds_shown(rounds), "deleted": bool(outputs.get("_text_deleted"))},
        )

    # --- The run ----------------------------------------------------------------------

    def batch_limit(self) -> int:
        return run.batch_size()

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        return run.execute_one(context)

    def execute_many(
        self, contexts: list[ExecutionContext]
    ) -> Iterator[list[tuple[int, Outcome | Wait]]]:
        return run.batch_run(contexts)

    def apply(self, context: ExecutionContext, outputs: dict[str, Any]) -> dict[str, Any]:
        return self.apply_many([(context, outputs)])[0]

    def apply_many(
        self, items: list[tuple[ExecutionContext, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        usage.usage_rows_add([context for context, _outputs in items])
        return [outputs for _context, outputs in items]

    def usage_of(self, execution_ids: list[int]) -> dict[int, StepUsage]:
        return usage.step_usages(execution_ids)


def _pin(config: dict[str, Any]) -> int | None:
    pin = config.get(versions.CONFIG_KEY)
    return pin if isinstance(pin, int) else None


def response_text(labels: dict[str, str], value: Any) -> str:
    """The Response as the run history shows it: a structured answer (the JSON object the
    model returned) as one "Label: value" line per field, labelled as its version labels
    them; any other answer as it is."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if not text.lstrip().startswith("{"):
        return text
    try:
        answer = json.loads(text)
    except ValueError:
        return text
    if not isinstance(answer, dict):
        return text
    return "\n".join(
        _labelled(evaluations.field_label(labels, str(name)), _field_value(item))
        for name, item in answer.items()
    )


def _labelled(label: str, value: str) -> str:
    """ "Label: value", with the language's typography (French: a space before the colon)."""
    return gettext("%(label)s: %(value)s") % {"label": label, "value": value}


def _field_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(evaluations.value_shown(item) for item in value)
    return evaluations.value_shown(value)


def tool_rounds_shown(rounds: list[Any]) -> list[Any]:
    """Tool rounds as the run history shows them: each tool by its label (as on the
    assistant's checkboxes), its arguments as "Name: value" lines; the result stays the
    data the model was given."""
    from marketplace.integrations.openai.tools import TOOLS

    shown = []
    for round_ in rounds:
        if not isinstance(round_, dict):
            continue
        calls = []
        for call in round_.get("calls") or []:
            if not isinstance(call, dict):
                continue
            tool = TOOLS.get(str(call.get("tool")))
            calls.append(
                {
                    **call,
                    "tool_label": str(tool.label) if tool else str(call.get("tool") or ""),
                    "argument_lines": _argument_lines(call.get("arguments")),
                }
            )
        shown.append({**round_, "calls": calls})
    return shown


def _argument_lines(arguments: Any) -> list[str]:
    """A call's arguments (the model's JSON) as "Name: value" lines, leaving out the empty
    ones; [] when they are not a JSON object (the template shows them as kept)."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return []
    if not isinstance(arguments, dict):
        return []
    return [
        _labelled(evaluations.field_label({}, str(name)), _field_value(value))
        for name, value in arguments.items()
        if value not in (None, "", [])
    ]
