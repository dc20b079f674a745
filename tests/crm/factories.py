"""Small helpers to make CRM data in tests (through the services, like the product)."""

from __future__ import annotations

from crm import services
from crm.models import Account, PropertyDefinition, Record, User


def contact(account: Account, actor: User | None = None, **values) -> Record:
    return services.record_create(
        account=account, object_type="contact", values=values, actor=actor
    )


def record(account: Account, object_type: str, **values) -> Record:
    return services.record_create(account=account, object_type=object_type, values=values)


def custom_property(
    account: Account,
    name: str,
    type: str,
    object_type: str = "contact",
    options: list | None = None,
    label: str | None = None,
) -> PropertyDefinition:
    return PropertyDefinition.objects.create(
        account=account,
        object_type=object_type,
        name=name,
        label=label or name.title(),
        type=type,
        options=options or [],
        position=100,
    )
