"""Runs that fail for a reason a person can fix, then succeed when replayed.

`owner_handover` is built from built-in actions: step 1 creates a task (a side effect
that must not happen twice), step 2 sets the contact owner to a user who has been
deactivated meanwhile → "… is not a user of this account" (permanent). The fix:
reactivate the user, then replay. When the OpenAI action lands, a sibling scenario
(step 2 = "Ask OpenAI assistant" against the simulator with an exhausted quota; fix =
reconnect with a valid key) plugs in with the same three members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from crm.models import Role, User
from tests.conftest import make_user
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
