from crm.models.accounts import Account, Role, User
from crm.models.activities import Notification, Task
from crm.models.api import ApiToken
from crm.models.audit import AuditAction, AuditEvent
from crm.models.forms import Form, FormField, FormSubmission
from crm.models.imports import ImportJob
from crm.models.objects import (
    OBJECT_CREATE_LABELS,
    OBJECT_SLUGS,
    WITHHELD,
    Association,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    PropertyValue,
    Record,
    TimelineEvent,
)

__all__ = [
    "OBJECT_CREATE_LABELS",
    "OBJECT_SLUGS",
    "WITHHELD",
    "Account",
    "ApiToken",
    "AuditAction",
    "AuditEvent",
    "Association",
    "Form",
    "FormField",
    "FormSubmission",
    "ImportJob",
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
