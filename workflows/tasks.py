"""Celery tasks: thin adapters that take an id and call one engine function.

`run_execution` is published with the queue its action type declares ("default", or
"assistant" for OpenAI). Acknowledged late and given back if the worker dies (see
config/celery.py); the ledger makes a second delivery harmless.
"""

from celery import shared_task

from workflows import engine, enrollment, ledger, sweeper
from workflows.models import Workflow


@shared_task(name=ledger.RUN_TASK)
def run_execution(execution_id: int) -> str:
    return engine.execution_run(execution_id=execution_id)


@shared_task(name=ledger.SWEEP_TASK)
def sweep() -> dict:
    return sweeper.executions_sweep()


@shared_task(name=ledger.ENROLL_EXISTING_TASK)
def enroll_existing(workflow_id: int) -> int:
    workflow = Workflow.objects.filter(pk=workflow_id).first()
    if workflow is None:
        return 0
    return enrollment.enrollments_bulk_create(workflow=workflow, track_progress=True)
