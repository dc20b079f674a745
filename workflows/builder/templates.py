""" "Create from a template": a registered `WorkflowTemplate` becomes a new draft."""

from __future__ import annotations

from crm.models import Account, User
from workflows import registry
from workflows.models import Workflow


def template_create(*, account: Account, key: str, actor: User | None) -> Workflow:
    """A draft made from the template `key` for `account` (KeyError: no such template).
    Steps the template could not complete (e.g. no matching assistant) stay incomplete,
    so the workflow cannot be turned on until the builder finishes them."""
    template = registry.template(key)
    if template is None:
        raise KeyError(key)
    fields = template.build(account)
    return Workflow.objects.create(
        account=account,
        object_type=template.object_type,
        name=str(template.name),
        description=str(template.description),
        created_by=actor,
        **fields,
    )
