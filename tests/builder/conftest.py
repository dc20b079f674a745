"""Fixtures for builder tests: workflows whose draft graph is written directly."""

from __future__ import annotations

import pytest

from crm import services as crm
from crm.models import ObjectType
from tests.celery_worker import celery_worker  # noqa: F401  (the fixture)
from workflows.models import Workflow


def draft(
    account, graph, *, criteria=None, object_type=ObjectType.CONTACT, name="Draft"
) -> Workflow:
    return Workflow.objects.create(
        account=account, object_type=object_type, name=name, criteria=criteria or [], graph=graph
    )


def contact(account, **values):
    values.setdefault("email", f"{values.get('first_name', 'x').lower()}@example.com")
    return crm.record_create(account=account, object_type=ObjectType.CONTACT, values=values)


def task(title="Call {{ object.first_name }}", **extra):
    return {"type": "create_task", "config": {"title": title, **extra}}


@pytest.fixture
def branched(acme):
    """1 task → 2 branch (Hot: 3 → 4; None met: 5)."""
    return draft(
        acme,
        {
            "start": 1,
            "steps": {
                "1": {**task("First"), "next": 2},
                "2": {
                    "type": "branch",
                    "next": None,
                    "config": {
                        "paths": [
                            {
                                "name": "Hot",
                                "groups": [[{"output": "1.task_id", "operator": "is_known"}]],
                                "next": 3,
                            }
                        ],
                        "none_next": 5,
                    },
                },
                "3": {**task("Hot {{ actions.1.task_id }}"), "next": 4},
                "4": {**task("After hot {{ actions.3.task_id }}"), "next": None},
                "5": {**task("Cold"), "next": None},
            },
        },
    )
