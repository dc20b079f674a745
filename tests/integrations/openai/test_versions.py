"""Assistant versions: a save that changes what is sent makes a version, publishing
pins it, runs send the pinned version whatever the assistant became, the builder offers
the newest and flags what adopting it breaks, and review refuses until fixed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Task
from marketplace.integrations.openai.models import (
    AssistantUsage,
    AssistantVersion,
    WorkspaceAssistant,
)
from openai_simulator.config import DEMO_REVOKED_KEY
from tests.integrations.openai.conftest import (
    connect,
    contact,
    drain,
    lead_rater,
    make_workflow,
    rater_branch,
)
from workflows import services
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

RATER_POST = {
    "name": "Lead rater",
    "instructions": "Rate the lead: HOT, WARM or COLD.",
    "model": "gpt-4o-mini",
    "temperature": "",
    "reasoning_effort": "",
    "output_format": "structured",
    "field-0-name": "rating",
    "field-0-type": "enumeration",
    "field-0-options": "HOT, WARM, COLD",
    "field-1-name": "reason",
    "field-1-type": "text",
}
# The Lead rater without "rating" (what the admin did).
WITHOUT_RATING = {
    **RATER_POST,
    "instructions": "Explain the lead's interest.",
    "field-0-name": "reason",
    "field-0-type": "text",
    "field-0-options": "",
    "field-1-name": "",
    "note": "Only the reason",
}


def edit(client, assistant, data):
    response = client.post(reverse("marketplace:openai_assistant_edit", args=[assistant.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]


HOT_LEAD = "We need a quote and pricing, budget approved"


def test_a_save_that_changes_what_is_sent_makes_a_numbered_version(acme, admin_client, sim):
    connect(acme)
    admin_client.post(reverse("marketplace:openai_assistant_new"), RATER_POST)
    rater = WorkspaceAssistant.objects.get()
    assert list(rater.versions.values_list("number", flat=True)) == [1]
    edit(admin_client, rater, {**RATER_POST, "name": "Renamed"})  # the name is not sent
    assert rater.versions.count() == 1
    edit(admin_client, rater, WITHOUT_RATING)
    newest = rater.versions.first()
    assert newest.number == 2 and newest.note == "Only the reason"
    assert newest.created_by.username == "admin"
    assert [f["name"] for f in newest.snapshot["output_fields"]] == ["reason"]
    assert [f["name"] for f in rater.versions.last().snapshot["output_fields"]] == [
        "rating",
        "reason",
    ]


def test_a_live_workflow_runs_its_pinned_version_after_the_assistant_is_edited(
    acme, admin_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))
    pinned = workflow.live_version.graph["steps"]["1"]["config"]["assistant_version"]
    assert AssistantVersion.objects.get(pk=pinned).number == 1
    edit(admin_client, rater, WITHOUT_RATING)  # drops "rating", which the branch reads
    contact(acme, first_name="Hot", job_title=HOT_LEAD)
    drain()
    assert list(Task.objects.values_list("title", flat=True)) == ["Call first"]
    assert AssistantUsage.objects.get().assistant_version.number == 1


def test_a_run_started_before_an_edit_and_a_republish_finishes_on_its_version(
    acme, admin_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))
    contact(acme, first_name="Hot", job_title=HOT_LEAD)  # enrolled, not run yet
    edit(admin_client, rater, {**RATER_POST, "instructions": "Rate the lead, strictly."})
    workflow.refresh_from_db()
    graph = workflow.graph
    graph["steps"]["1"]["config"]["assistant_version"] = rater.versions.first().pk
    services.workflow_update(workflow=workflow, graph=graph)  # adopts v2 for new runs
    contact(acme, first_name="Next", email="next@example.com", job_title=HOT_LEAD)
    drain()
    used = sorted(AssistantUsage.objects.values_list("assistant_version__number", flat=True))
    assert used == [1, 2]


def test_the_builder_offers_the_newest_version_and_adopting_it_flags_the_branch(
    acme, admin_client, builder_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))
    edit(admin_client, rater, WITHOUT_RATING)
    panel = builder_client.get(reverse("workflows:step", args=[workflow.pk, 1])).content.decode()
    assert "Assistant updated: v1 → v2" in panel
    assert "Step 2" in panel and "“rating” is removed" in panel  # what adopting breaks
    assert "Explain the lead" in panel  # the instructions' diff
    builder_client.post(reverse("marketplace:openai_step_adopt", args=[workflow.pk, 1]))
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["2"]["incomplete"] is True
    review = builder_client.post(reverse("workflows:review", args=[workflow.pk]))
    assert review.status_code == 400 and "no longer gives" in review.content.decode()
    workflow.refresh_from_db()
    # Still live on version 1 until the builder fixes the branch and publishes.
    assert (
        AssistantVersion.objects.get(
            pk=workflow.live_version.graph["steps"]["1"]["config"]["assistant_version"]
        ).number
        == 1
    )
    panel = builder_client.get(reverse("workflows:step", args=[workflow.pk, 1])).content.decode()
    assert "Assistant updated" not in panel


def test_a_flagged_branch_saved_again_unchanged_still_stops_review(
    acme, admin_client, builder_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))
    edit(admin_client, rater, WITHOUT_RATING)
    builder_client.post(reverse("marketplace:openai_step_adopt", args=[workflow.pk, 1]))
    builder_client.post(
        reverse("workflows:step", args=[workflow.pk, 2]),
        {
            "path_count": "1",
            "path-0-name": "Hot",
            "path-0-source": "output:1.rating",
            "path-0-operator": "eq_any",
            "path-0-value": "HOT",
        },
    )
    workflow.refresh_from_db()
    assert not workflow.graph["steps"]["2"].get("incomplete")  # the save cleared the flag
    review = builder_client.post(reverse("workflows:review", args=[workflow.pk]))
    assert review.status_code == 400
    assert "reads “rating” of step 1, which no longer gives it" in review.content.decode()


def test_changing_a_fields_options_breaks_the_steps_that_read_it(
    acme, admin_client, builder_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))
    edit(admin_client, rater, {**RATER_POST, "field-0-options": "HOT, COLD"})  # no more WARM
    page = admin_client.get(reverse("marketplace:openai_assistant_edit", args=[rater.pk]))
    assert "Step 2 breaks" in page.content.decode()
    builder_client.post(reverse("marketplace:openai_step_adopt", args=[workflow.pk, 1]))
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["2"]["incomplete"] is True
    assert "“rating” now has the options HOT, COLD, was HOT, WARM, COLD" in " ".join(
        workflow.graph["steps"]["2"]["problems"]
    )


def test_adopting_a_compatible_version_and_publishing_makes_it_live(
    acme, admin_client, builder_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    workflow = make_workflow(acme, rater_branch(rater))
    edit(admin_client, rater, {**RATER_POST, "instructions": "Rate the lead, strictly."})
    builder_client.post(reverse("marketplace:openai_step_adopt", args=[workflow.pk, 1]))
    assert builder_client.post(reverse("workflows:review", args=[workflow.pk])).status_code == 302
    workflow = Workflow.objects.get(pk=workflow.pk)
    pin = workflow.live_version.graph["steps"]["1"]["config"]["assistant_version"]
    assert AssistantVersion.objects.get(pk=pin).number == 2


def test_other_accounts_and_sales_reps_cannot_adopt(acme, globex_client, rep_client, sim):
    connect(acme)
    workflow = make_workflow(acme, rater_branch(lead_rater(acme)))
    url = reverse("marketplace:openai_step_adopt", args=[workflow.pk, 1])
    assert globex_client.post(url).status_code == 404
    assert rep_client.post(url).status_code == 403


def test_the_save_page_lists_the_published_workflows_a_removed_field_would_break(
    acme, admin_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    make_workflow(acme, rater_branch(rater))
    url = reverse("marketplace:openai_assistant_edit", args=[rater.pk])
    response = admin_client.post(url, WITHOUT_RATING)
    assert response.status_code == 302 and response["Location"] == url
    page = admin_client.get(url).content.decode()
    assert "Test workflow" in page and "v1" in page
    assert "Step 2 breaks" in page and "“rating” is removed" in page


def test_the_versions_list_shows_diffs_and_usage_per_version_and_restores_an_old_one(
    acme, admin_client, sim
):
    connect(acme)
    rater = lead_rater(acme)
    make_workflow(acme, rater_branch(rater))
    contact(acme, first_name="Hot", job_title=HOT_LEAD)
    drain()
    edit(admin_client, rater, WITHOUT_RATING)
    connect(acme, DEMO_REVOKED_KEY)  # the next run fails: counted against v1
    contact(acme, first_name="Fails", job_title=HOT_LEAD)
    drain()
    url = reverse("marketplace:openai_assistant_edit", args=[rater.pk])
    page = admin_client.get(url)
    rows = {row.version.number: row for row in page.context["version_rows"]}
    assert (rows[1].runs, rows[1].failed, rows[1].failure_rate) == (2, 1, 50.0)
    assert rows[1].tokens > 0 and rows[2].runs == 0
    html = page.content.decode()
    assert "<del>- Rate the lead: HOT, WARM or COLD.</del>" in html
    assert "<ins>+ Explain the lead&#x27;s interest.</ins>" in html
    assert "Only the reason" in html and "Removed" in html
    admin_client.post(url, {"restore_version": str(rows[1].version.pk)})
    rater.refresh_from_db()
    newest = rater.versions.first()
    assert newest.number == 3 and newest.note == "Restored from v1"
    assert newest.snapshot == rows[1].version.snapshot
    assert [f["name"] for f in rater.output_fields] == ["rating", "reason"]
    assert admin_client.post(url, {"restore_version": "99999999999999999999"}).status_code == 404


def test_a_field_label_is_saved_with_the_version_and_names_the_field_for_people(
    acme, admin_client, sim
):
    """A field's label (what people read for it) is part of what a version defines: a
    label given in the editor makes a version whose diff says so, and the evaluation
    pages and the workflow's variables read it; the name the model and the workflow's
    variables use stays."""
    from marketplace.integrations.openai import versions
    from marketplace.integrations.openai.builder import step_outputs
    from marketplace.integrations.openai.models import EvaluationSet

    connect(acme)
    rater = lead_rater(acme)
    versions.version_current(rater)  # v1, without labels
    edit(admin_client, rater, {**RATER_POST, "field-0-label": "  Lead   temperature ", "note": "x"})
    rater.refresh_from_db()
    assert rater.output_fields[0] == {
        "name": "rating",
        "label": "Lead temperature",
        "type": "enumeration",
        "options": ["HOT", "WARM", "COLD"],
    }
    assert "label" not in rater.output_fields[1]  # none given: stored as before
    url = reverse("marketplace:openai_assistant_edit", args=[rater.pk])
    html = admin_client.get(url).content.decode()
    assert rater.versions.count() == 2
    assert 'value="Lead temperature"' in html and "Label changed" in html
    french = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Libellé modifié" in french
    config = {"assistant": rater.choice_value}
    labels = {o.name: str(o.label) for o in step_outputs(config, acme)}
    assert labels["rating"] == "Lead temperature" and labels["reason"] == "Reason"
    the_set = EvaluationSet.objects.create(
        account=acme, assistant=rater, name="Leads", object_type="contact", prompt="x"
    )
    page = admin_client.get(reverse("marketplace:openai_evaluation_set", args=[the_set.pk]))
    assert "<th>Lead temperature</th><th>Reason</th>" in page.content.decode()


def test_the_diff_reads_settings_and_field_types_in_words():
    """What a version changed, as people read it: an output format, a reasoning effort
    and CRM tools by their labels, a field's type in words, an enumeration by its
    options; never the stored codes."""
    from django.utils import translation

    from marketplace.integrations.openai import versions

    old = {
        "output_format": "text",
        "reasoning_effort": "low",
        "tools": [],
        "output_fields": [],
    }
    new = {
        "output_format": "structured",
        "reasoning_effort": "high",
        "tools": ["search_records"],
        "output_fields": [
            {"name": "score", "type": "number", "options": []},
            {"name": "rating", "type": "enumeration", "options": ["HOT", "COLD"]},
        ],
    }
    for language, expected in (
        (
            "en",
            [
                ("Reasoning effort", "Low", "High"),
                ("Output format", "Text", "Structured (named fields)"),
                ("CRM tools", "—", "Search records"),
            ],
        ),
        (
            "fr",
            [
                ("Effort de raisonnement", "Faible", "Élevé"),
                ("Format de sortie", "Texte", "Structuré (champs nommés)"),
                ("Outils CRM", "—", "Rechercher des fiches"),
            ],
        ),
    ):
        with translation.override(language):
            diff = versions.versions_diff(old, new)
            assert sorted(diff.settings) == sorted(expected)
            assert [(c.name, c.new) for c in diff.fields] == [
                ("score", "number" if language == "en" else "nombre"),
                ("rating", "HOT, COLD"),
            ]
