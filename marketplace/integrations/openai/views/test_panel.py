"""The endpoints of the Ask step's Test section in the builder (its HTML is
test_panel.py's): the record search and the Test itself. Builders and super admins."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.access import account_for
from crm.models import Account, ObjectType, Record
from crm.services import definitions_for
from crm.views.common import parse_id
from marketplace.integrations.openai.action import tool_rounds_shown
from marketplace.integrations.openai.listing import ACTION_KEY
from marketplace.integrations.openai.test_panel import records_for
from marketplace.integrations.openai.views.app_page import AppRequest
from workflows import registry
from workflows.outcomes import ActionError
from workflows.services import action_test_run
from workflows.tokens import TokenResolver

TEMPLATE = "marketplace_openai/action_test.html"


def _tester_account(request: AppRequest) -> Account:
    account = account_for(request)
    if not request.user.can_edit_workflows:
        raise PermissionDenied(
            _(
                "Your role does not allow this: only workflow builders and super admins can test actions."
            )
        )
    return account


def _config_from(request: AppRequest) -> dict[str, Any]:
    """The action config as the builder posts it: a JSON `config` field, or the form's
    own fields (assistant, prompt, model, temperature, reasoning_effort, the caps)."""
    if request.POST.get("config"):
        try:
            config = json.loads(request.POST["config"])
        except ValueError:
            config = {}
        return config if isinstance(config, dict) else {}
    return {
        name: request.POST.get(name, "")
        for name in (
            "assistant",
            "prompt",
            "model",
            "temperature",
            "reasoning_effort",
            "max_output_tokens",
            "max_input_chars",
        )
    }


@require_POST
def action_test_records(request: AppRequest) -> HttpResponse:
    """The Test section's record dropdown for a search (`record_q`) among the records
    of `object_type` in the user's account."""
    account = _tester_account(request)
    object_type = request.POST.get("object_type", "")
    if object_type not in ObjectType.values:
        object_type = ObjectType.CONTACT
    query = " ".join(request.POST.get("record_q", "").split())[:200]
    return render(
        request,
        f"{TEMPLATE}#action-test-records",
        {"records": records_for(account, object_type, query), "query": query},
    )


@require_POST
def action_test(request: AppRequest) -> HttpResponse:
    """The builder's **Test**: run the action now on one record of the user's account.

    POST `record` (id) and the config; answers the partial
    `marketplace_openai/action_test.html#action-test-result` (resolved prompt, response
    or error, model, tokens, cost). Nothing is written and the workflow does not run on."""
    account = _tester_account(request)
    record_id = parse_id(request.POST.get("record"))
    record = Record.objects.filter(account=account, pk=record_id).first() if record_id else None
    if record is None:
        return render(
            request,
            f"{TEMPLATE}#action-test-result",
            {"result": {"prompt": None, "error": _("Choose a record to test with.")}},
        )
    config = _config_from(request)
    resolver = TokenResolver(
        record=record, definitions=definitions_for(account, record.object_type), earlier_outputs={}
    )
    # As the run sends it: sensitive properties withheld, masked when masking is on.
    resolved_prompt = (
        registry.get(ACTION_KEY).resolve_config({"prompt": config.get("prompt") or ""}, resolver)
    )["prompt"]
    result: dict[str, Any] = {"prompt": resolved_prompt, "record": record}
    try:
        outputs = action_test_run(action_key=ACTION_KEY, config=config, record=record)
    except ValidationError as error:
        result["error"] = " ".join(error.messages)
    except ActionError as error:
        result["error"] = error.message
    else:
        usage = outputs.pop("_usage", {})
        result["tool_rounds"] = tool_rounds_shown(outputs.pop("_tool_rounds", []))
        result.update(
            {
                "response": outputs.get("response", ""),
                "fields": {
                    k: v
                    for k, v in outputs.items()
                    if k not in ("response", "model", "total_tokens")
                },
                "usage": usage,
            }
        )
    return render(request, f"{TEMPLATE}#action-test-result", {"result": result})
