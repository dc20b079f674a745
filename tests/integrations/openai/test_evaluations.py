"""Evaluations: a set of records with expected answers, asked of one or two assistant
versions through the Ask action's batch path (the simulator answers over real HTTP),
gives pass rates, tokens, cost and latency per version; its calls take the shared rate
limiter's permits, count in usage as an evaluation and against budgets, and a budget
reached midway stops it with a message saying so."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from marketplace.integrations.openai import assistants as assistants_mod
from marketplace.integrations.openai import evaluation_run, evaluations, usage, versions
from marketplace.integrations.openai.limiter import policy
from marketplace.integrations.openai.models import (
    AssistantUsage,
    Evaluation,
    EvaluationAnswer,
    EvaluationSet,
)
from tests.integrations.openai.conftest import connect, contact, lead_rater
from tests.test_pages_read_as_product import raw_codes, visible_text

pytestmark = pytest.mark.django_db

HOT = "We need a quote and pricing, budget approved"
COLD = "Student looking for an internship"
WARM = "Curious to learn more about the product"


def leads(account, titles):
    return [
        contact(account, first_name=f"Lead{i}", job_title=title) for i, title in enumerate(titles)
    ]


def rater_v2(rater):
    """v2: the rater asked about nothing but COLD (every answer becomes COLD)."""
    rater.instructions = "Rate the lead: HOT, WARM or COLD."
    rater.output_fields = [
        {"name": "rating", "type": "enumeration", "options": ["HOT", "WARM", "COLD"]},
        {"name": "reason", "type": "text", "options": []},
    ]
    rater.model = "gpt-4.1-mini"
    return versions.workspace_assistant_save(assistant=rater)


def make_set(account, rater, records, expected=None, prompt="{{ object.job_title }}"):
    return EvaluationSet.objects.create(
        account=account,
        assistant=rater,
        name="Leads",
        object_type="contact",
        prompt=prompt,
        records=[r.pk for r in records],
        expected=expected or {},
    )


def run_to_the_end(evaluation):
    for _i in range(20):
        evaluation_run.evaluation_run(evaluation_id=evaluation.pk)
        evaluation.refresh_from_db()
        if evaluation.is_finished:
            return evaluation
        EvaluationAnswer.objects.filter(evaluation=evaluation).update(due_at=None)
    raise AssertionError("the evaluation did not finish")


def test_an_evaluation_computes_pass_rates_from_expected_values(acme, sim):
    connect(acme)
    rater = lead_rater(acme)
    v1 = versions.version_current(rater)
    records = leads(acme, [HOT, HOT, COLD, WARM])
    # Expected: HOT, HOT, COLD, and HOT for the warm one (which the rater says is WARM).
    expected = {
        str(records[0].pk): {"fields": {"rating": "hot"}},
        str(records[1].pk): {"fields": {"rating": "HOT"}, "text_op": "contains", "text": "quote"},
        str(records[2].pk): {"fields": {"rating": "COLD"}},
        str(records[3].pk): {"fields": {"rating": "HOT"}},
    }
    evaluation_set = make_set(acme, rater, records, expected)
    evaluation = evaluation_run.evaluation_start(evaluation_set=evaluation_set, version_a=v1)
    run_to_the_end(evaluation)
    assert evaluation.status == Evaluation.Status.DONE
    results = evaluations.evaluation_results(evaluation)
    (side,) = results.sides
    assert (side.answered, side.checked, side.passed) == (4, 4, 3)
    assert side.pass_rate == 75.0
    assert side.tokens > 0 and side.cost > 0
    assert side.p50 is not None and side.p95 >= side.p50
    warm_row = results.rows[3]
    (cell,) = warm_row.cells
    assert cell.answer.structured["rating"] == "WARM"
    assert cell.fields[0] == ("Rating", "WARM")
    assert [c.passed for c in cell.checks] == [False]
    # The text check reads the whole response (the JSON answer's text).
    assert [c.passed for c in results.rows[1].cells[0].checks] == [True, True]


def test_two_versions_run_side_by_side_and_the_same_version_with_two_models(acme, sim):
    connect(acme)
    rater = lead_rater(acme)
    v1 = versions.version_current(rater)
    v2 = rater_v2(rater)
    records = leads(acme, [HOT, COLD])
    evaluation_set = make_set(acme, rater, records)
    both = run_to_the_end(
        evaluation_run.evaluation_start(evaluation_set=evaluation_set, version_a=v1, version_b=v2)
    )
    sides = evaluations.evaluation_results(both).sides
    assert [s.label for s in sides] == ["v1 · gpt-4o-mini", "v2 · gpt-4.1-mini"]
    assert [s.answered for s in sides] == [2, 2]
    models = run_to_the_end(
        evaluation_run.evaluation_start(
            evaluation_set=evaluation_set, version_a=v1, model_b="gpt-4o"
        )
    )
    assert sorted(
        AssistantUsage.objects.filter(evaluation=models).values_list("model", flat=True)
    ) == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]


def test_evaluation_calls_take_the_shared_limiters_permits_and_count_as_evaluation_usage(acme, sim):
    connection = connect(acme)
    rater = lead_rater(acme)
    records = leads(acme, [HOT, COLD, WARM])
    evaluation = run_to_the_end(
        evaluation_run.evaluation_start(
            evaluation_set=make_set(acme, rater, records),
            version_a=versions.version_current(rater),
        )
    )
    key = assistants_mod.connection_key(connection)
    assert policy.limiter().state(key).connection.requests_used == 3
    rows = AssistantUsage.objects.filter(evaluation=evaluation)
    assert rows.count() == 3
    assert set(rows.values_list("workflow", "execution")) == {(None, None)}
    spent = usage.spent_this_month(connection=connection)
    assert spent.executions == 3 and spent.tokens == sum(r.total_tokens for r in rows)
    # A version's "runs" on the assistant page are workflow runs, not evaluations.
    from marketplace.integrations.openai.version_history import version_rows

    assert version_rows(rater)[0].runs == 0


def test_a_budget_reached_mid_evaluation_stops_it_with_a_clear_message(acme, sim):
    connection = connect(acme)
    rater = lead_rater(acme)
    records = leads(acme, [HOT] * 10)
    # Room for one or two calls: each reserves ~270 tokens and spends fewer.
    usage.budget_set(
        connection=connection, workflow=None, unit="tokens", monthly_limit=Decimal(400)
    )
    evaluation = run_to_the_end(
        evaluation_run.evaluation_start(
            evaluation_set=make_set(acme, rater, records),
            version_a=versions.version_current(rater),
        )
    )
    assert evaluation.status == Evaluation.Status.STOPPED
    assert "Monthly AI budget reached" in evaluation.message
    assert "answers were not asked" in evaluation.message
    side = evaluations.evaluation_results(evaluation).sides[0]
    assert 1 <= side.answered < 10
    assert side.skipped == 10 - side.answered
    assert AssistantUsage.objects.filter(evaluation=evaluation).count() == side.answered
    # The next one is refused before any call: the budget is spent.
    usage.budget_set(
        connection=connection,
        workflow=None,
        unit="tokens",
        monthly_limit=Decimal(usage.spent_this_month(connection=connection).tokens),
    )
    again = run_to_the_end(
        evaluation_run.evaluation_start(
            evaluation_set=make_set(acme, rater, records[:2]),
            version_a=versions.version_current(rater),
        )
    )
    assert again.status == Evaluation.Status.STOPPED
    assert evaluations.evaluation_results(again).sides[0].answered == 0


def test_a_bad_regular_expression_is_refused_with_a_message():
    with pytest.raises(Exception, match="not a valid regular expression"):
        evaluations.expectation_clean({"text_op": "matches", "text": "(unclosed"}, [])


def test_a_super_admin_saves_a_set_with_expected_answers_evaluates_and_reads_the_results(
    acme, admin_client, client, builder_user, sim
):
    connect(acme)
    rater = lead_rater(acme)
    v1 = versions.version_current(rater)
    records = leads(acme, [HOT, COLD, WARM])
    new_url = reverse("marketplace:openai_evaluation_set_new", args=[rater.pk])
    refused = admin_client.post(new_url, {"name": "Leads", "prompt": "{{ object.job_title }}"})
    assert "Pick at least one record" in refused.content.decode()
    not_a_list = admin_client.post(
        new_url, {"name": "Leads", "prompt": "x", "filter_link": "/objects/contacts/"}
    )
    assert "This link has no filters" in not_a_list.content.decode()
    filters = '[[{"property": "job_title", "operator": "contains", "value": "quote"}]]'
    link = "http://testserver/objects/contacts/?" + urlencode({"filters": filters})
    by_filter = admin_client.post(new_url, {"name": "Hot", "prompt": "x", "filter_link": link})
    assert by_filter.status_code == 302
    assert EvaluationSet.objects.get(name="Hot").records == [records[0].pk]
    response = admin_client.post(
        new_url,
        {"name": "Leads", "prompt": "{{ object.job_title }}", "records": [r.pk for r in records]},
    )
    evaluation_set = EvaluationSet.objects.get(name="Leads")
    set_url = reverse("marketplace:openai_evaluation_set", args=[evaluation_set.pk])
    assert response["Location"] == set_url
    bad = admin_client.post(
        set_url,
        {"save_expected": "1", f"op-{records[0].pk}": "matches", f"txt-{records[0].pk}": "("},
    )
    assert "not a valid regular expression" in bad.content.decode()
    expected = {
        "save_expected": "1",
        f"exp-{records[0].pk}-rating": "HOT",
        f"exp-{records[1].pk}-rating": "COLD",
        f"exp-{records[2].pk}-rating": "HOT",
    }
    assert admin_client.post(set_url, expected).status_code == 302
    evaluation_set.refresh_from_db()
    assert len(evaluation_set.expected) == 3
    same = admin_client.post(
        set_url, {"evaluate": "1", "version_a": v1.pk, "version_b": v1.pk, "model_b": ""}
    )
    assert "Both sides are the same" in same.content.decode()
    started = admin_client.post(
        set_url, {"evaluate": "1", "version_a": v1.pk, "version_b": "", "model_b": "gpt-4o"}
    )
    evaluation = Evaluation.objects.get()
    assert started["Location"] == reverse("marketplace:openai_evaluation", args=[evaluation.pk])
    page = admin_client.get(started["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "0 of 6 answers" in page and 'hx-trigger="every 1s"' in page  # not run in the request
    run_to_the_end(evaluation)
    page = admin_client.get(started["Location"]).content.decode()
    assert "v1 · gpt-4o-mini" in page and "v1 · gpt-4o" in page
    assert "67 % (2/3)" in page
    # A field without a label of its own reads as its name in words.
    assert "Rating: WARM" in page and "Fail: Rating = HOT" in page
    assert 'hx-trigger="every 1s"' not in page
    # The version it tested links to it; a builder may not open it.
    assistant_page = admin_client.get(reverse("marketplace:openai_assistant_edit", args=[rater.pk]))
    assert started["Location"] in assistant_page.content.decode()
    client.force_login(builder_user)
    assert client.get(started["Location"]).status_code == 403


def test_the_results_name_each_field_by_its_label_in_english_and_french(acme, admin_client, sim):
    """A structured field reads as the label its version gives it, on the set's expected
    answers and on the results, in English and French; never its name."""
    connect(acme)
    rater = lead_rater(acme)
    rater.output_fields = [
        {
            "name": "rating",
            "label": "Lead temperature",
            "type": "enumeration",
            "options": ["HOT", "WARM", "COLD"],
        },
        {"name": "reason", "type": "text", "options": []},
    ]
    versions.workspace_assistant_save(assistant=rater)
    records = leads(acme, [WARM])
    evaluation_set = make_set(
        acme, rater, records, expected={str(records[0].pk): {"fields": {"rating": "HOT"}}}
    )
    set_url = reverse("marketplace:openai_evaluation_set", args=[evaluation_set.pk])
    set_page = visible_text(admin_client.get(set_url).content.decode())
    assert "Lead temperature" in set_page and "Reason" in set_page
    evaluation = evaluation_run.evaluation_start(
        evaluation_set=evaluation_set,
        version_a=versions.version_current(rater),
        user=None,
    )
    run_to_the_end(evaluation)
    url = reverse("marketplace:openai_evaluation", args=[evaluation.pk])
    english = visible_text(admin_client.get(url).content.decode())
    french = visible_text(admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    assert "Lead temperature: WARM" in english
    assert "Fail: Lead temperature = HOT" in english
    assert "Lead temperature : WARM" in french  # a non-breaking space before the colon
    assert "Échoué : Lead temperature = HOT" in french
    for text in (english, french):
        assert "rating" not in text and raw_codes(text) == []
