"""The OpenAI integration's tasks: the periodic jobs, run-history retention (retention.py)
and economy mode's batches (economy.py), completing a chunk of a batch's answered steps
(economy.py, on the `default` queue), and running an evaluation (evaluation_run.py, on
the `assistant` queue)."""

from __future__ import annotations

from collections import Counter

from celery import shared_task

from config.celery import app
from marketplace.integrations.openai import economy, evaluation_run, retention

RETENTION_TASK = "marketplace_openai.run_history_retention"
RETENTION_EVERY_SECONDS = 3600.0


@shared_task(name=RETENTION_TASK)
def run_history_retention() -> int:
    return retention.run_history_text_delete()


@shared_task(name=evaluation_run.EVALUATION_TASK)
def run_evaluation(evaluation_id: int) -> str:
    return evaluation_run.evaluation_run(evaluation_id=evaluation_id)


app.conf.beat_schedule["openai-run-history-retention"] = {
    "task": RETENTION_TASK,
    "schedule": RETENTION_EVERY_SECONDS,
    "options": {"expires": RETENTION_EVERY_SECONDS},
}


ECONOMY_TASK = "marketplace_openai.economy"


@shared_task(name=ECONOMY_TASK)
def economy_run() -> dict[str, int]:
    """Economy mode's job (economy.py): poll the open batches, apply those that
    ended, submit the queued steps."""
    return economy.economy_run()


@shared_task(name=economy.ANSWERS_TASK)
def economy_answers(execution_ids: list[int]) -> dict[str, int]:
    """A chunk of a batch's answered steps, completed (economy.answers_complete hands
    them out; a chunk delivered twice completes each step once)."""
    return dict(Counter(economy.answers_chunk_complete(execution_ids).values()))


app.conf.beat_schedule["openai-economy"] = {
    "task": ECONOMY_TASK,
    "schedule": economy.POLL_SECONDS,
    "options": {"expires": economy.POLL_SECONDS},
}
