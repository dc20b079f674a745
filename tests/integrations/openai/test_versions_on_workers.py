"""Versions on a real Celery worker: editing an assistant never changes what a live
workflow sends, for runs started before the edit and after it."""

from __future__ import annotations

import pytest

from crm.models import Task
from marketplace.integrations.openai import versions
from marketplace.integrations.openai.models import AssistantUsage
from tests.celery_worker import celery_worker, wait_for  # noqa: F401  (fixture)
from tests.integrations.openai.conftest import (
    connect,
    contact,
    lead_rater,
    make_workflow,
    rater_branch,
)
from tests.integrations.openai.test_on_celery_workers import settled, worker_env
from tests.integrations.openai.test_versions import HOT_LEAD
from workflows.models import Enrollment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_pinned_version_after_the_assistant_loses_a_field(
    acme, sim, celery_worker
):
    connect(acme)
    rater = lead_rater(acme)
    make_workflow(acme, rater_branch(rater))
    contact(acme, first_name="Before", job_title=HOT_LEAD)  # started before the edit
    assert Enrollment.objects.count() == 1
    rater.instructions = "Explain the lead's interest."
    rater.output_fields = [{"name": "reason", "type": "text", "options": []}]
    assert versions.workspace_assistant_save(assistant=rater).number == 2
    contact(acme, first_name="After", job_title=HOT_LEAD)  # enrolled after it
    celery_worker(beat=True, env=worker_env(sim))
    wait_for(settled(2), timeout=60, message="both runs to finish")
    assert list(Task.objects.values_list("title", flat=True)) == ["Call first", "Call first"]
    assert list(AssistantUsage.objects.values_list("assistant_version__number", flat=True)) == [
        1,
        1,
    ]


def test_a_worker_runs_an_evaluation_of_two_versions(acme, sim, celery_worker):
    from marketplace.integrations.openai import evaluation_run, evaluations
    from marketplace.integrations.openai.models import Evaluation, EvaluationSet

    connect(acme)
    rater = lead_rater(acme)
    v1 = versions.version_current(rater)
    rater.model = "gpt-4.1-mini"
    v2 = versions.workspace_assistant_save(assistant=rater)
    records = [contact(acme, first_name=f"L{i}", job_title=HOT_LEAD) for i in range(5)]
    evaluation_set = EvaluationSet.objects.create(
        account=acme,
        assistant=rater,
        name="Hot leads",
        object_type="contact",
        prompt="{{ object.job_title }}",
        records=[r.pk for r in records],
        expected={str(r.pk): {"fields": {"rating": "HOT"}} for r in records},
    )
    evaluation = evaluation_run.evaluation_start(
        evaluation_set=evaluation_set, version_a=v1, version_b=v2
    )
    celery_worker(env=worker_env(sim))
    wait_for(
        lambda: Evaluation.objects.get(pk=evaluation.pk).is_finished,
        timeout=60,
        message="the evaluation to finish",
    )
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.DONE
    sides = evaluations.evaluation_results(evaluation).sides
    assert [(s.label, s.answered, s.pass_rate) for s in sides] == [
        ("v1 · gpt-4o-mini", 5, 100.0),
        ("v2 · gpt-4.1-mini", 5, 100.0),
    ]
    assert AssistantUsage.objects.filter(evaluation=evaluation).count() == 10
