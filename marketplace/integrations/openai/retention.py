"""Retention of what Ask steps sent to and got from OpenAI (Settings › AI data).

After an account's `ai_retention_days` (default 90), a finished Ask step's prompt (its
resolved inputs), its answer and structured fields, and its tool rounds' arguments and
results are deleted from the run history; its status, model, tokens and cost stay (the
tokens and cost live in the usage rows, which are not touched). Run by a beat job
(tasks.py) in batches of BATCH_SIZE rows, each batch its own transaction, so a large
backlog never holds a long lock; running it twice is harmless (a cleared step is
marked `_text_deleted` and skipped).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import Account
from marketplace.integrations.openai.listing import ACTION_KEY
from workflows.models import ActionExecution

BATCH_SIZE = 500
# Outputs that are usage, not text: they stay.
_KEPT_OUTPUTS = ("model", "total_tokens")
DELETED_INPUTS = {"_text_deleted": True}


def _cleared_outputs(outputs: Any) -> dict[str, Any]:
    outputs = outputs if isinstance(outputs, dict) else {}
    cleared: dict[str, Any] = {k: outputs[k] for k in _KEPT_OUTPUTS if k in outputs}
    rounds = outputs.get("_tool_rounds")
    if isinstance(rounds, list):  # which tools ran and their tokens stay
        cleared["_tool_rounds"] = [
            {
                "round": r.get("round"),
                "tokens": r.get("tokens"),
                "calls": [
                    {"tool": c.get("tool"), "arguments": "—", "result": "—"}
                    for c in r.get("calls") or []
                    if isinstance(c, dict)
                ],
            }
            for r in rounds
            if isinstance(r, dict)
        ]
    cleared["_text_deleted"] = True
    return cleared


def run_history_text_delete(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Clear the text of every Ask step finished before its account's retention
    period; returns how many steps were cleared."""
    now = now or timezone.now()
    cleared = 0
    for account_id, days in Account.objects.values_list("pk", "ai_retention_days"):
        due = (
            ActionExecution.objects.filter(
                workflow__account_id=account_id,
                action_type=ACTION_KEY,
                finished_at__lt=now - dt.timedelta(days=days),
            )
            .exclude(inputs__has_key="_text_deleted")
            .order_by("pk")
        )
        while True:
            with transaction.atomic():
                batch = list(due.select_for_update()[:batch_size].only("pk", "outputs"))
                if not batch:
                    break
                for execution in batch:
                    execution.inputs = dict(DELETED_INPUTS)
                    execution.outputs = _cleared_outputs(execution.outputs)
                ActionExecution.objects.bulk_update(batch, ["inputs", "outputs"])
            cleared += len(batch)
            if len(batch) < batch_size:
                break
    return cleared
