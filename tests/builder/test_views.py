"""The builder's pages over HTTP: access, canvas edits, criteria, review and turn on."""

from __future__ import annotations

import pytest

from tests.builder.conftest import contact, draft, task
from workflows.models import Workflow

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def simple(acme, rep_user):
    return draft(
        acme,
        {"start": 1, "steps": {"1": {**task(assignee=str(rep_user.pk)), "next": None}}},
        criteria=[[{"property": "state", "operator": "is_known"}]],
    )


# --- Access ------------------------------------------------------------------------------


def test_a_rep_sees_the_canvas_without_edit_controls(rep_client, simple):
    page = rep_client.get(f"/workflows/{simple.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Call" in html and "View only" in html
    assert "add-step" not in html and "Review and turn on" not in html and "Move up" not in html


@pytest.mark.parametrize(
    "path,data",
    [
        ("add/", {"slot": "after:1", "type": "delay"}),
        ("steps/1/", {"title": "x"}),
        ("steps/1/move/", {"direction": "up"}),
        ("steps/1/delete/", {"confirm": "1"}),
        ("criteria/", {"_save": "1"}),
        ("review/", {}),
        ("turn-off/", {}),
    ],
)
def test_a_rep_cannot_change_a_workflow(rep_client, simple, path, data):
    response = rep_client.post(f"/workflows/{simple.pk}/{path}", data)
    assert response.status_code == 403
    assert b"Sales reps can view workflows but not change them" in response.content
    simple.refresh_from_db()
    assert simple.graph["steps"]["1"]["config"]["title"] != "x" and not simple.is_enabled


def test_a_rep_cannot_create_workflows(rep_client):
    assert (
        rep_client.post("/workflows/new/", {"object_type": "contact", "name": "x"}).status_code
        == 403
    )
    assert rep_client.post("/workflows/new/format_state/").status_code == 403
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "",
        "criteria/",
        "add/?slot=start",
        "steps/1/",
        "review/",
        "steps/1/data/?field=title",
        "steps/1/delete/",
    ],
)
def test_another_account_gets_a_404(globex_client, simple, path):
    assert globex_client.get(f"/workflows/{simple.pk}/{path}").status_code == 404
    assert globex_client.post(f"/workflows/{simple.pk}/{path}").status_code in (404, 405)


def test_posts_need_the_csrf_token(builder_user, simple):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(builder_user)
    assert (
        client.post(f"/workflows/{simple.pk}/steps/1/move/", {"direction": "down"}).status_code
        == 403
    )


# --- List and create ---------------------------------------------------------------------


def test_the_list_filters_and_counts_without_n_plus_one(
    builder_client, acme, simple, django_assert_max_num_queries
):
    for n in range(5):
        draft(acme, {}, name=f"Deal flow {n}", object_type="deal")
    with django_assert_max_num_queries(6):
        page = builder_client.get("/workflows/")
    assert page.content.decode().count("/workflows/") >= 6
    found = builder_client.get("/workflows/", {"q": "deal", "object_type": "deal"}, **HTMX)
    assert found.content.decode().count("Deal flow") == 5 and "Draft" not in found.content.decode()
    assert builder_client.get("/workflows/", {"object_type": "nonsense"}).status_code == 200


def test_it_creates_a_workflow_and_from_a_template(builder_client, acme):
    response = builder_client.post("/workflows/new/", {"object_type": "contact", "name": "Leads"})
    workflow = Workflow.objects.get(name="Leads")
    assert response.url == f"/workflows/{workflow.pk}/"
    assert (
        builder_client.post("/workflows/new/", {"object_type": "nope", "name": ""}).status_code
        == 400
    )
    response = builder_client.post("/workflows/new/draft_sales_email/")
    workflow = Workflow.objects.get(name="Draft sales emails")
    step = workflow.graph["steps"]["1"]
    assert workflow.object_type == "deal" and step["type"] == "ask_openai_assistant"
    assert step["incomplete"] and "{{ associated.contact.first_name }}" in step["config"]["prompt"]
    page = builder_client.get(response.url).content.decode()
    assert "Ask OpenAI assistant" in page and "Incomplete" in page
    assert builder_client.post("/workflows/new/nope/").status_code == 404


# --- Canvas edits ------------------------------------------------------------------------


def test_add_configure_move_and_delete_through_the_panels(builder_client, simple, rep_user):
    url = f"/workflows/{simple.pk}/"
    panel = builder_client.get(url + "add/", {"slot": "after:1"}, **HTMX).content.decode()
    assert "OpenAI integration" in panel and "Create task" in panel and "Delay" in panel
    assert "Ask OpenAI assistant" in panel and "OpenAI is not connected" in panel
    response = builder_client.post(url + "add/", {"slot": "after:1", "type": "create_task"}, **HTMX)
    assert "canvas-changed" in response.headers["HX-Trigger"]
    simple.refresh_from_db()
    assert simple.graph["steps"]["2"]["incomplete"] is True
    # Saved incomplete: kept and marked.
    response = builder_client.post(url + "steps/2/", {"title": "", "_save": "1"}, **HTMX)
    assert b"Saved as incomplete" in response.content
    simple.refresh_from_db()
    assert simple.graph["steps"]["2"]["problems"]
    builder_client.post(
        url + "steps/2/",
        {"title": "Second {{ actions.1.task_id }}", "assignee": "owner", "_save": "1"},
        **HTMX,
    )
    simple.refresh_from_db()
    assert "incomplete" not in simple.graph["steps"]["2"]
    # Moving 2 above 1 is allowed, and review then says its data comes from later.
    builder_client.post(url + "steps/2/move/", {"direction": "up"}, **HTMX)
    simple.refresh_from_db()
    assert simple.graph["start"] == 2
    review = builder_client.get(url + "review/").content.decode()
    assert "does not run before it" in review
    builder_client.post(url + "steps/2/move/", {"direction": "down"}, **HTMX)
    # Deleting 1 asks for confirmation because 2 uses its output.
    confirm = builder_client.post(url + "steps/1/delete/", **HTMX).content.decode()
    assert "use its outputs" in confirm and "2. Create task" in confirm
    simple.refresh_from_db()
    assert "1" in simple.graph["steps"]
    builder_client.post(url + "steps/1/delete/", {"confirm": "1"}, **HTMX)
    simple.refresh_from_db()
    assert list(simple.graph["steps"]) == ["2"] and simple.graph["start"] == 2
    assert "deleted action" in builder_client.get(url + "review/").content.decode()


def test_branch_paths_are_drawn_side_by_side_with_their_names(builder_client, branched):
    html = builder_client.get(f"/workflows/{branched.pk}/").content.decode()
    assert html.count('class="branch-path"') == 2
    assert ">Hot<" in html and "None met" in html
    for slot in ["path:2:0", "none:2", "after:3", "after:4", "after:5", "start"]:
        assert f'data-slot="{slot}"' in html
    response = builder_client.post(
        f"/workflows/{branched.pk}/steps/2/",
        {
            "path_count": "2",
            "path-0-name": "Hot",
            "path-0-source": "output:1.task_id",
            "path-0-operator": "is_known",
            "path-1-name": "Warm",
            "path-1-source": "property:state",
            "path-1-operator": "contains",
            "path-1-value": "ca",
            "_save": "1",
        },
        **HTMX,
    )
    assert response.status_code == 200
    branched.refresh_from_db()
    paths = branched.graph["steps"]["2"]["config"]["paths"]
    assert [p["name"] for p in paths] == ["Hot", "Warm"] and paths[0]["next"] == 3
    assert branched.graph["steps"]["2"]["config"]["none_next"] == 5


@pytest.mark.parametrize(
    "data",
    [
        {"slot": "after:999", "type": "delay"},
        {"slot": "path:x:y", "type": "delay"},
        {"slot": "start", "type": "no_such_action"},
        {"slot": "start"},
    ],
)
def test_bad_add_requests_are_not_500(builder_client, simple, data):
    assert builder_client.post(f"/workflows/{simple.pk}/add/", data).status_code in (400, 404)


@pytest.mark.parametrize(
    "data",
    [
        {"direction": "sideways"},
        {"direction": ""},
        {},
    ],
)
def test_bad_moves_are_not_500(builder_client, simple, data):
    assert (
        builder_client.post(f"/workflows/{simple.pk}/steps/1/move/", data, **HTMX).status_code
        == 400
    )


def test_garbage_in_step_forms_is_not_500(builder_client, simple, branched):
    for data in [
        {"due_in": "abc", "title": "x" * 70000, "_save": "1"},
        {"assignee": "99999", "title": "t", "_save": "1"},
        {"priority": "nope", "title": "{{ actions.x.y }}", "_save": "1"},
    ]:
        assert builder_client.post(f"/workflows/{simple.pk}/steps/1/", data).status_code == 200
    assert (
        builder_client.post(
            f"/workflows/{branched.pk}/steps/2/",
            {"path_count": "999999", "path-0-source": "output:zz", "_save": "1"},
        ).status_code
        == 200
    )
    assert builder_client.get(f"/workflows/{simple.pk}/steps/42/").status_code == 404


# --- Criteria ----------------------------------------------------------------------------


def test_the_criteria_panel_counts_matches_live_and_saves(builder_client, acme, simple):
    contact(acme, first_name="Ann", state="California")
    contact(acme, first_name="Bob")
    url = f"/workflows/{simple.pk}/criteria/"
    panel = builder_client.post(
        url, {"c-0-0-property": "state", "c-0-0-operator": "is_unknown"}, **HTMX
    ).content.decode()
    assert "1 Contact record matches now" in panel
    panel = builder_client.post(
        url, {"c-0-0-property": "state", "c-0-0-operator": "is_known", "_add_or": "1"}, **HTMX
    ).content.decode()
    assert 'name="c-1-0-property"' in panel
    panel = builder_client.post(
        url, {"c-0-0-property": "lead_status", "c-0-0-operator": "gt"}, **HTMX
    ).content.decode()
    assert "is equal to any of" in panel  # the operators of a dropdown property
    builder_client.post(
        url,
        {
            "c-0-0-property": "first_name",
            "c-0-0-operator": "eq_any",
            "c-0-0-value": "Bob",
            "re_enroll": "on",
            "_save": "1",
        },
        **HTMX,
    )
    simple.refresh_from_db()
    assert simple.criteria == [[{"property": "first_name", "operator": "eq_any", "value": "Bob"}]]
    assert simple.re_enroll
    bad = builder_client.post(
        url, {"c-0-0-property": "first_name", "c-0-0-operator": "eq_any", "_save": "1"}, **HTMX
    )
    assert bad.status_code == 400 and b"Enter a value" in bad.content


# --- Review and turn on ------------------------------------------------------------------


def test_it_cannot_turn_on_while_an_action_is_incomplete(builder_client, acme, simple):
    simple.graph["steps"]["1"]["config"]["title"] = ""
    simple.save()
    response = builder_client.post(f"/workflows/{simple.pk}/review/")
    assert response.status_code == 400 and b"is incomplete" in response.content
    simple.refresh_from_db()
    assert not simple.is_enabled and simple.live_version is None


def test_a_template_cannot_be_turned_on_before_openai_is_connected(
    builder_client, acme, builder_user
):
    from workflows.builder.templates import template_create

    workflow = template_create(account=acme, key="qualify_visitors", actor=builder_user)
    response = builder_client.post(f"/workflows/{workflow.pk}/review/")
    assert response.status_code == 400
    assert b"OpenAI is not connected to this account." in response.content
    assert b"1. Ask OpenAI assistant is incomplete" in response.content


def test_review_counts_then_turns_on_and_off(builder_client, acme, simple, settings):
    contact(acme, first_name="Ann", state="California")
    contact(acme, first_name="Bob")
    review = builder_client.get(f"/workflows/{simple.pk}/review/").content.decode()
    assert "1 record meets the criteria now" in review and "Every action is complete" in review
    response = builder_client.post(f"/workflows/{simple.pk}/review/", {"enroll_existing": "no"})
    assert response.status_code == 302
    simple.refresh_from_db()
    assert simple.is_enabled and simple.live_version.graph["steps"]["1"]["type"] == "create_task"
    # An edit of a live workflow stays a draft until "Review and update".
    simple.graph["steps"]["1"]["config"]["title"] = "Changed"
    simple.save()
    assert "not live yet" in builder_client.get(f"/workflows/{simple.pk}/").content.decode()
    builder_client.post(f"/workflows/{simple.pk}/review/")
    simple.refresh_from_db()
    assert (
        simple.version == 2
        and simple.live_version.graph["steps"]["1"]["config"]["title"] == "Changed"
    )
    builder_client.post(f"/workflows/{simple.pk}/turn-off/")
    simple.refresh_from_db()
    assert not simple.is_enabled


def test_the_review_of_a_form_triggered_workflow_names_the_form(builder_client, acme, simple):
    from crm.webforms import form_create

    form = form_create(account=acme, name="Contact us")
    Workflow.objects.filter(pk=simple.pk).update(form_id=form.pk, criteria=[])
    html = builder_client.get(f"/workflows/{simple.pk}/review/").content.decode()
    assert "Every contact who submits the form “Contact us”" in html
    assert "no criteria" not in html
