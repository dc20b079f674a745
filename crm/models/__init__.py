from crm.models.accounts import Account, Role, User
from crm.models.activities import Notification, Task
from crm.models.objects import (
    OBJECT_SLUGS,
    Association,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    PropertyValue,
    Record,
    TimelineEvent,
)

__all__ = [
    "OBJECT_SLUGS",
    "Account",
    "Association",
    "Notification",
    "ObjectType",
    "PropertyDefinition",
    "PropertyType",
    "PropertyValue",
    "Record",
    "Role",
    "Task",
    "TimelineEvent",
    "User",
]
