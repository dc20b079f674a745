"""Celery tasks: thin adapters that take ids and call one engine function.

`run_execution` (one id) and `run_executions` (several ids of batchable action types,
see workflows/engine/publish.py) are published with the queue their action type declares
("default", or a queue of slow outside calls such as "assistant"). Acknowledged
late and given back if the worker dies (see config/celery.py); the ledger makes a second delivery harmless.
"""

from collections import Counter

from celery import shared_task

from workflows.engine import enrollment, publish, runner, sweeper


@shared_task(name=publish.RUN_TASK)
def run_execution(execution_id: int) -> str:
    """What happened to this execution; next steps due now on the same queue run here
    too (see runner.executions_run)."""
    return runner.execution_run(execution_id=execution_id, inline=True)


@shared_task(name=publish.RUN_MANY_TASK)
def run_executions(execution_ids: list[int], queue: str | None = None) -> dict[str, int]:
    """A batch; then further due batchable work of `queue` nobody published recently,
    for up to WORKFLOWS_BATCH_SECONDS. Returns counts by outcome."""
    results = runner.executions_run(
        execution_ids=execution_ids, queue=queue, inline=True, steal=queue is not None
    )
    return dict(Counter(results.values()))


@shared_task(name=publish.SWEEP_TASK)
def sweep() -> dict[str, int]:
    return sweeper.executions_sweep()


@shared_task(name=publish.ENROLL_EXISTING_TASK)
def enroll_existing(fan_out_id: int) -> int:
    """Run or resume a fan-out (turning a workflow on); returns how many enrolled."""
    return enrollment.fan_out_run(fan_out_id=fan_out_id)
