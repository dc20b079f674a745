"""Runs that fail for a reason a person can fix, then succeed when replayed.

`owner_handover` is built from built-in actions: step 1 creates a task (a side effect
that must not happen twice), step 2 sets the contact owner to a user who has been
deactivated meanwhile → "… is not a user of this account" (permanent). The fix:
reactivate the user, then replay.

`openai_out_of_quota`: step 1 asks an OpenAI assistant, step 2 creates a task from the
answer; the account's OpenAI key has no quota, so the simulator answers 429
insufficient_quota and the step fails (permanent, one attempt). The fix: reconnect with
a valid key (the browser test does it through the Marketplace pages instead).
Needs the `sim` fixture of tests/integrations/openai/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crm.models import Role, User
from openai_simulator.config import DEMO_KEY, DEMO_NO_QUOTA_KEY
from tests.conftest import make_user
from tests.integrations.openai.conftest import ask_then_task, connect, workspace_assistant
from tests.workflows.conftest import chain, contact, make_workflow


@dataclass
class FailingScenario:
    workflow: object
    record: object
    error_text: str  # part of the failed step's message, as shown in the history
    fix: Callable[[], None]


def owner_handover(account, *, first_name: str = "Dana") -> FailingScenario:
    successor = make_user(
        account, f"successor-{first_name.lower()}", Role.SALES_REP, first_name="Sam"
    )
    workflow = make_workflow(
        account,
        chain(
            {"type": "create_task", "config": {"title": "Call {{ object.first_name }}"}},
            {"type": "set_property", "config": {"property": "owner", "value": str(successor.pk)}},
        ),
    )
    type(workflow).objects.filter(pk=workflow.pk).update(name="Hand over to Sam")
    workflow.name = "Hand over to Sam"
    User.objects.filter(pk=successor.pk).update(is_active=False)
    record = contact(account, first_name=first_name, last_name="Doe")

    def fix() -> None:
        User.objects.filter(pk=successor.pk).update(is_active=True)

    return FailingScenario(workflow, record, "is not a user of this account", fix)


def openai_assistant_workflow(account):
    """Ask the "State formatter" assistant for the contact's state code, then create a
    task "Code: <answer>". Connected with a valid key."""
    connect(account, DEMO_KEY)
    workflow = make_workflow(account, ask_then_task(workspace_assistant(account).choice_value))
    type(workflow).objects.filter(pk=workflow.pk).update(name="State codes")
    workflow.name = "State codes"
    return workflow


def openai_out_of_quota(
    account, *, workflow=None, first_name: str = "Ann", state: str = "ohio"
) -> FailingScenario:
    workflow = workflow or openai_assistant_workflow(account)
    connect(account, DEMO_NO_QUOTA_KEY)
    record = contact(account, first_name=first_name, last_name="Doe", state=state)

    def fix() -> None:
        connect(account, DEMO_KEY)

    return FailingScenario(workflow, record, "Your OpenAI account is out of quota", fix)
