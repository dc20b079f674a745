"""Economy mode for evaluations (evaluation_economy.py): an evaluation started "in
economy mode" sends its requests through the simulator's Batch API (real SDK, real
HTTP), waits for the batch without a worker, then shows its results as usual, priced at
the batch rate; requests a batch does not answer (a failed request, an expired batch)
are asked again as ordinary calls; a model with a Flex tier is asked at once on it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from marketplace.integrations.openai import economy, evaluation_run, evaluations, versions
from marketplace.integrations.openai.models import (
    AssistantUsage,
    EconomyBatch,
    EconomyItem,
    Evaluation,
    EvaluationAnswer,
)
from tests.integrations.openai.conftest import connect, lead_rater
from tests.integrations.openai.test_economy import FAST_BATCHES, until_batches_end
from tests.integrations.openai.test_evaluations import COLD, HOT, WARM, leads, make_set

pytestmark = pytest.mark.django_db(transaction=True)


def economy_evaluation(account, titles, **options) -> Evaluation:
    rater = lead_rater(account)
    records = leads(account, titles)
    expected = {str(records[0].pk): {"fields": {"rating": "HOT"}}}
    evaluation_set = make_set(account, rater, records, expected)
    return evaluation_run.evaluation_start(
        evaluation_set=evaluation_set,
        version_a=versions.version_current(rater),
        economy=True,
        **options,
    )


def run_once(evaluation: Evaluation) -> str:
    result = evaluation_run.evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    return result


def test_an_economy_evaluation_waits_for_its_batch_then_shows_results_at_the_batch_price(
    acme, sim, admin_client
):
    sim.configure(**FAST_BATCHES)
    connect(acme)
    evaluation = economy_evaluation(acme, [HOT, COLD, WARM])
    page_url = reverse("marketplace:openai_evaluation", args=[evaluation.pk])

    assert run_once(evaluation) == "waiting for its batch"
    assert evaluation.status == Evaluation.Status.RUNNING and evaluation.leased_until is None
    assert EconomyItem.objects.filter(state="queued", answer__evaluation=evaluation).count() == 3
    assert not sim.requests(path_prefix="/v1/responses")  # no call was made
    page = admin_client.get(page_url).content.decode()
    assert "Waiting for OpenAI's batch" in page
    assert "3 requests queued for OpenAI's next batch" in page
    assert "0 of 3 answers" in page and 'hx-trigger="every 30s"' in page

    # The beat job sends the batch (a batch of this evaluation only), then applies it.
    economy.economy_run()
    page = admin_client.get(page_url).content.decode()
    assert "3 requests in OpenAI's batch (Validating, sent " in page
    until_batches_end()
    (batch,) = EconomyBatch.objects.all()
    assert (batch.evaluation_id, batch.rows, batch.status) == (evaluation.pk, 3, "completed")
    assert set(EconomyItem.objects.values_list("state", flat=True)) == {"done"}
    # Its end made the answers due: the evaluation's task completes them with no call.
    assert run_once(evaluation) == "done"
    assert evaluation.status == Evaluation.Status.DONE
    assert not sim.requests(path_prefix="/v1/responses")

    (side,) = evaluations.evaluation_results(evaluation).sides
    assert (side.answered, side.failed, side.checked, side.passed) == (3, 0, 1, 1)
    assert side.tokens > 0 and side.cost > 0
    assert side.p50 is None  # a batch's answer has no latency of its own
    usage = list(AssistantUsage.objects.filter(evaluation=evaluation))
    assert len(usage) == 3 and {row.engine for row in usage} == {"batch"}
    row = usage[0]  # gpt-4o-mini at the batch rate: half the table's price
    full = (
        Decimal(row.input_tokens) * Decimal("0.15") + Decimal(row.output_tokens) * Decimal("0.60")
    ) / Decimal(1_000_000)
    assert abs(row.cost_usd - full / 2) <= Decimal("0.000001")  # stored to the micro-dollar
    assert sum(a.cost_usd for a in evaluation.answers.all()) == side.cost
    page = admin_client.get(page_url).content.decode()
    assert "Waiting for OpenAI" not in page
    assert "economy mode" in page and "Answers side by side" in page


def test_a_failed_request_and_an_expired_batch_are_asked_again_as_ordinary_calls(acme, sim):
    sim.configure(
        **FAST_BATCHES, faults=[{"path_prefix": "/v1/responses", "error_500": 1.0, "times": 1}]
    )
    connect(acme)
    evaluation = economy_evaluation(acme, [HOT, COLD, WARM])
    run_once(evaluation)
    until_batches_end()
    states = sorted(EconomyItem.objects.values_list("state", flat=True))
    assert states == ["done", "done", "returned"]
    sim.configure(faults=[])
    assert run_once(evaluation) == "done"
    engines = sorted(AssistantUsage.objects.values_list("engine", flat=True))
    assert engines == ["batch", "batch", "responses"]  # the failed one ran as a call
    assert len(sim.requests(path_prefix="/v1/responses")) == 1

    # A second evaluation whose batch expires: every request is asked as an ordinary call.
    sim.configure(batch_window_seconds=0.15)
    expired = economy_evaluation(acme, [HOT, COLD])
    assert run_once(expired) == "waiting for its batch"
    until_batches_end()
    assert EconomyBatch.objects.get(evaluation=expired).status == "expired"
    assert run_once(expired) == "done"
    answers = expired.answers.all()
    assert {a.status for a in answers} == {EvaluationAnswer.Status.OK}
    assert set(
        AssistantUsage.objects.filter(evaluation=expired).values_list("engine", flat=True)
    ) == {"responses"}
    assert len(sim.requests(path_prefix="/v1/responses")) == 3


def test_a_model_with_a_flex_tier_is_asked_at_once_on_it_at_the_batch_rate(acme, sim):
    sim.configure(log_bodies=True)
    connect(acme)
    evaluation = economy_evaluation(acme, [HOT, COLD], model_a="o4-mini")
    assert run_once(evaluation) == "done"
    assert not EconomyItem.objects.exists() and not EconomyBatch.objects.exists()
    sent = sim.requests(path_prefix="/v1/responses")
    assert [r["body"]["service_tier"] for r in sent] == ["flex", "flex"]
    usage = AssistantUsage.objects.filter(evaluation=evaluation)
    assert {row.engine for row in usage} == {"flex"}


def test_the_set_page_offers_economy_mode(acme, sim, admin_client):
    connect(acme)
    rater = lead_rater(acme)
    evaluation_set = make_set(acme, rater, leads(acme, [HOT]))
    set_url = reverse("marketplace:openai_evaluation_set", args=[evaluation_set.pk])
    page = admin_client.get(set_url).content.decode()
    assert "Economy mode (about half the price, results within 24 hours)" in page
    v1 = versions.version_current(rater)
    admin_client.post(set_url, {"evaluate": "1", "version_a": v1.pk, "economy": "on"})
    assert Evaluation.objects.get().economy is True
