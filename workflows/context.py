"""What an action sees when it runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExecutionContext:
    account: Any  # crm.models.Account
    workflow: Any  # Workflow, or None in test mode without a workflow
    record: Any  # crm.models.Record, loaded fresh for this attempt
    # Config with every token resolved (what `execute` should use) and as saved.
    config: dict[str, Any]
    raw_config: dict[str, Any]
    # Outputs of earlier steps of this enrollment, by step id.
    earlier_outputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    step_id: int | None = None
    # None in test mode (no ledger row).
    execution_id: int | None = None
    attempt: int = 1
    # The record's property definitions by name (tokens, criteria, property writes).
    definitions: dict[str, Any] = field(default_factory=dict)
    # What a metered call spent, e.g. {"input_tokens": 812, "output_tokens": 95, "model":
    # "gpt-4.1-mini"}: the action writes it to its own store in `apply_many` (and the
    # Test button shows it); the ledger keeps none of it.
    usage: dict[str, Any] = field(default_factory=dict)
    # True when run from the builder's "Test" button: show the result, change nothing
    # outside (the engine never calls `apply` in test mode).
    is_test: bool = False
    # True when the enrollment was turned on in economy mode: the action may send its
    # outside call through the service's cheaper, slower tier (registry `economy`).
    economy: bool = False
    # The outside call an earlier attempt started and recorded (services.call_refs_record;
    # e.g. an OpenAI response id): resume it rather than paying for a new one. "": none.
    call_ref: str = ""
    _test_key: str = field(default_factory=lambda: f"test:{uuid.uuid4().hex}")

    def release_db_connection(self) -> None:
        """Call right before a slow outside call (an HTTP API): closes this worker's database
        connection so hundreds of waiting calls hold none; the next query reopens it.
        A no-op inside a transaction (test mode from a request, tests)."""
        from django.db import connection

        if not connection.in_atomic_block:
            connection.close()

    @property
    def idempotency_key(self) -> str:
        """Key every side effect with this: unique per execution (and stable across
        redeliveries and retries of it)."""
        if self.execution_id is None:
            return self._test_key
        return f"exec:{self.execution_id}"
