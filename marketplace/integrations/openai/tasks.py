"""The OpenAI integration's periodic job: run-history retention (retention.py)."""

from __future__ import annotations

from celery import shared_task

from config.celery import app
from marketplace.integrations.openai import retention

RETENTION_TASK = "marketplace_openai.run_history_retention"
RETENTION_EVERY_SECONDS = 3600.0


@shared_task(name=RETENTION_TASK)
def run_history_retention() -> int:
    return retention.run_history_text_delete()


app.conf.beat_schedule["openai-run-history-retention"] = {
    "task": RETENTION_TASK,
    "schedule": RETENTION_EVERY_SECONDS,
    "options": {"expires": RETENTION_EVERY_SECONDS},
}
