"""Building with "Wait for approval" and "Send email": adding the approval lays its three
outcomes out as the paths of an If/then right below it (Approved goes on to what
followed); the sender is picked from the account's users by name."""

from __future__ import annotations

import pytest

from crm.models import Role
from tests.builder.conftest import draft, task
from tests.conftest import make_user
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_adding_a_wait_for_approval_lays_out_its_three_outcomes_below_it(builder_client, acme):
    workflow = draft(
        acme,
        {"start": 1, "steps": {"1": {**task("Draft"), "next": 2}, "2": {**task("Then")}}},
    )
    url = f"/workflows/{workflow.pk}/"
    builder_client.post(url + "add/", {"slot": "after:1", "type": "approval_wait"}, **HTMX)

    workflow.refresh_from_db()
    steps = workflow.graph["steps"]
    approval, branch = steps["3"], steps["4"]
    assert steps["1"]["next"] == 3 and approval["type"] == "approval_wait"
    assert approval["next"] == 4 and branch["type"] == "branch"
    paths = branch["config"]["paths"]
    assert [p["name"] for p in paths] == ["Approved", "Rejected", "No decision"]
    assert [p["groups"][0][0]["values"] for p in paths] == [["approved"], ["rejected"], ["timeout"]]
    assert {c["output"] for p in paths for c in p["groups"][0]} == {"3.decision"}
    # What followed the approval goes on from "Approved"; the other outcomes end there
    # until something is added to them.
    assert [p["next"] for p in paths] == [2, None, None]
    assert branch["config"]["none_next"] is None

    canvas = builder_client.get(url).content.decode()
    assert canvas.count('class="branch-path"') == 4  # and "None met"
    for name in ("Approved", "Rejected", "No decision"):
        assert f">{name}<" in canvas
    for slot in ("path:4:0", "path:4:1", "path:4:2"):
        assert f'data-slot="{slot}"' in canvas


def test_the_outcome_paths_are_named_in_the_builders_language(builder_client, acme):
    workflow = draft(acme, {"start": None, "steps": {}})
    builder_client.post(
        f"/workflows/{workflow.pk}/add/",
        {"slot": "start", "type": "approval_wait"},
        HTTP_ACCEPT_LANGUAGE="fr",
        **HTMX,
    )
    workflow.refresh_from_db()
    [branch] = [s for s in workflow.graph["steps"].values() if s["type"] == "branch"]
    assert [p["name"] for p in branch["config"]["paths"]] == [
        "Approuvé",
        "Refusé",
        "Pas de décision",
    ]


def test_the_sender_is_picked_from_the_accounts_users_by_name(builder_client, acme, rep_user):
    make_user(acme, "ghost", Role.SALES_REP, first_name="Gone", is_active=False)
    no_mail = make_user(acme, "nomail", Role.SALES_REP, first_name="Nomail")
    no_mail.email = ""
    no_mail.save()
    workflow = draft(
        acme,
        {
            "start": 1,
            "steps": {
                "1": {
                    "type": "email_contact",
                    "config": {"to": "record", "sender": "shared", "subject": "Hi", "body": "Hi"},
                }
            },
        },
    )
    url = f"/workflows/{workflow.pk}/steps/1/"
    panel = builder_client.get(url, **HTMX).content.decode()
    assert '<select name="sender"' in panel
    assert f'<option value="{rep_user.pk}">Riley Rep &lt;rep@example.com&gt;</option>' in panel
    assert '<option value="shared" selected>Shared sender (' in panel
    assert "Gone" not in panel and "Nomail" not in panel  # cannot send

    saved = builder_client.post(
        url,
        {"to": "record", "sender": str(rep_user.pk), "subject": "Hi", "body": "Hi", "_save": "1"},
        **HTMX,
    )
    assert saved.status_code == 200
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["config"]["sender"] == str(rep_user.pk)
    assert "From Riley Rep" in builder_client.get(f"/workflows/{workflow.pk}/").content.decode()

    # A user who cannot send (no email address) is refused, saying what to pick.
    refused = builder_client.post(
        url,
        {"to": "record", "sender": str(no_mail.pk), "subject": "Hi", "body": "Hi", "_save": "1"},
        **HTMX,
    )
    assert "pick a user of this account who has an email address" in refused.content.decode()
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["incomplete"] is True


def test_the_use_case_template_made_on_the_french_site_speaks_french(builder_client, acme):
    builder_client.post("/workflows/new/draft_approve_send/", HTTP_ACCEPT_LANGUAGE="fr")

    workflow = Workflow.objects.get(account=acme)
    assert workflow.name == "Rédiger, approuver et envoyer des e-mails commerciaux"
    steps = workflow.graph["steps"]
    assert steps["2"]["config"]["instructions"].startswith(
        "Lisez le brouillon, corrigez ce qui ne va pas"
    )
    assert [p["name"] for p in steps["3"]["config"]["paths"]] == [
        "Approuvé",
        "Refusé",
        "Pas de décision",
    ]
    assert steps["4"]["config"]["subject"].startswith("{{ object.name }}\u00a0: un mot de")
    assert steps["5"]["config"]["title"].startswith("Relire et envoyer l’e-mail rédigé")
    # Rejected has a path of its own, which sends nothing.
    assert [p["next"] for p in steps["3"]["config"]["paths"]] == [4, None, 5]


def approval_draft(acme, approver="owner"):
    return draft(
        acme,
        {
            "start": 1,
            "steps": {
                "1": {
                    "type": "approval_wait",
                    "config": {"approver": approver, "draft": "Hi", "timeout_days": 3},
                }
            },
        },
    )


def approval_post(**values):
    return {"draft": "Hi", "instructions": "", "timeout_days": "3", "_save": "1", **values}


def test_who_approves_is_picked_as_the_owner_a_user_or_a_role(builder_client, acme, rep_user):
    make_user(acme, "ghost", Role.SALES_REP, first_name="Gone", is_active=False)
    workflow = approval_draft(acme)
    url = f"/workflows/{workflow.pk}/steps/1/"

    panel = builder_client.get(url, **HTMX).content.decode()
    assert '<select name="approver_kind"' in panel
    assert '<option value="owner" selected>The record owner</option>' in panel
    assert '<input type="hidden" name="approver_user"' in panel  # no user select yet
    assert f'hx-post="{url}"' in panel and "_refresh" in panel

    # Choosing "A specific user" shows the account's active users by name and email.
    refreshed = builder_client.post(
        url, {**approval_post(approver_kind="user"), "_refresh": "1"}, **HTMX
    ).content.decode()
    assert '<select name="approver_user"' in refreshed
    assert '<option value="" selected>Choose a user</option>' in refreshed
    assert f'<option value="{rep_user.pk}">Riley Rep (rep@example.com)</option>' in refreshed
    assert "Gone" not in refreshed  # deactivated
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["config"]["approver"] == "owner"  # not saved

    builder_client.post(url, approval_post(approver_kind="user", approver_user=rep_user.pk), **HTMX)
    workflow.refresh_from_db()
    step = workflow.graph["steps"]["1"]
    assert step["config"]["approver"] == str(rep_user.pk) and "incomplete" not in step
    assert "Asks Riley Rep" in builder_client.get(f"/workflows/{workflow.pk}/").content.decode()
    panel = builder_client.get(url, **HTMX).content.decode()
    assert '<option value="user" selected>A specific user</option>' in panel
    assert f'<option value="{rep_user.pk}" selected>Riley Rep' in panel

    # "Anyone with a role" stores the role the way existing workflows have it.
    builder_client.post(url, approval_post(approver_kind="role", approver_role="sales_rep"), **HTMX)
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["config"]["approver"] == "role:sales_rep"
    assert "Asks Sales rep" in builder_client.get(f"/workflows/{workflow.pk}/").content.decode()
    panel = builder_client.get(url, **HTMX).content.decode()
    assert '<select name="approver_role"' in panel
    assert '<option value="sales_rep" selected>Sales rep</option>' in panel

    builder_client.post(
        url, approval_post(approver_kind="owner", approver_role="sales_rep"), **HTMX
    )
    workflow.refresh_from_db()
    assert workflow.graph["steps"]["1"]["config"]["approver"] == "owner"


def test_a_kind_with_nothing_picked_is_saved_as_incomplete_saying_what_to_choose(
    builder_client, acme
):
    workflow = approval_draft(acme)
    url = f"/workflows/{workflow.pk}/steps/1/"
    for kind, message in (("user", "Who approves: choose a user."), ("role", "choose a role")):
        saved = builder_client.post(url, approval_post(approver_kind=kind), **HTMX)
        assert message in saved.content.decode()
        workflow.refresh_from_db()
        assert workflow.graph["steps"]["1"]["incomplete"] is True
    assert (
        "Who approves is not chosen yet"
        in builder_client.get(f"/workflows/{workflow.pk}/").content.decode()
    )


@pytest.mark.parametrize(
    ("gone", "message"),
    [
        ("deactivated", "Who approves: Gone Rep was deactivated. Choose another user"),
        ("deleted", "was deleted. Choose another user"),
        ("role", "Who approves: the role “sales_manager” no longer exists. Choose another."),
    ],
)
def test_an_approver_who_is_gone_is_named_in_the_panel_and_the_review(
    builder_client, acme, gone, message
):
    ghost = make_user(acme, "ghost", Role.SALES_REP, first_name="Gone", last_name="Rep")
    ghost_id = ghost.pk
    approver = "role:sales_manager" if gone == "role" else str(ghost_id)
    workflow = approval_draft(acme, approver)
    if gone == "deactivated":
        ghost.is_active = False
        ghost.save()
    elif gone == "deleted":
        ghost.delete()

    # Opening the step keeps the stored choice, listed as gone: nothing changes silently.
    panel = builder_client.get(f"/workflows/{workflow.pk}/steps/1/", **HTMX).content.decode()
    if gone == "role":
        assert (
            '<option value="sales_manager" selected>A role that no longer exists (sales_manager)'
            in panel
        )
    else:
        assert (
            f'<option value="{ghost_id}" selected>A user who can no longer approve (#{ghost_id})'
            in panel
        )
    review = builder_client.get(f"/workflows/{workflow.pk}/review/").content.decode()
    assert "1. Wait for approval is incomplete: " in review and message in review

    saved = builder_client.post(
        f"/workflows/{workflow.pk}/steps/1/",
        approval_post(
            approver_kind="role" if gone == "role" else "user",
            approver_role="sales_manager",
            approver_user=ghost_id,
        ),
        **HTMX,
    )
    assert message in saved.content.decode()


def test_who_approves_speaks_french(builder_client, acme):
    workflow = approval_draft(acme, "role:sales_rep")
    panel = builder_client.get(
        f"/workflows/{workflow.pk}/steps/1/", HTTP_ACCEPT_LANGUAGE="fr", **HTMX
    ).content.decode()
    assert "Qui approuve" in panel and "Toute personne ayant un rôle" in panel
    assert "Le propriétaire de la fiche" in panel and "Un utilisateur précis" in panel
