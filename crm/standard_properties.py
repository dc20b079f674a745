"""The properties every account starts with (HubSpot's defaults, trimmed)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from crm.models import Account, ObjectType, PropertyDefinition, PropertyType

T, TA, NUM, DATE, ENUM, OWNER, BOOL = (
    PropertyType.TEXT,
    PropertyType.TEXTAREA,
    PropertyType.NUMBER,
    PropertyType.DATE,
    PropertyType.ENUMERATION,
    PropertyType.OWNER,
    PropertyType.BOOLEAN,
)


def _options(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"value": value, "label": label} for value, label in pairs]


LIFECYCLE_STAGES = _options(
    ("subscriber", gettext_noop("Subscriber")),
    ("lead", gettext_noop("Lead")),
    ("marketingqualifiedlead", gettext_noop("Marketing qualified lead")),
    ("salesqualifiedlead", gettext_noop("Sales qualified lead")),
    ("opportunity", gettext_noop("Opportunity")),
    ("customer", gettext_noop("Customer")),
    ("evangelist", gettext_noop("Evangelist")),
    ("other", gettext_noop("Other")),
)
LEAD_STATUSES = _options(
    ("new", gettext_noop("New")),
    ("open", gettext_noop("Open")),
    ("in_progress", gettext_noop("In progress")),
    ("open_deal", gettext_noop("Open deal")),
    ("unqualified", gettext_noop("Unqualified")),
    ("attempted_to_contact", gettext_noop("Attempted to contact")),
    ("connected", gettext_noop("Connected")),
    ("bad_timing", gettext_noop("Bad timing")),
)
DEAL_STAGES = _options(
    ("appointmentscheduled", gettext_noop("Appointment scheduled")),
    ("qualifiedtobuy", gettext_noop("Qualified to buy")),
    ("presentationscheduled", gettext_noop("Presentation scheduled")),
    ("decisionmakerboughtin", gettext_noop("Decision maker bought-in")),
    ("contractsent", gettext_noop("Contract sent")),
    ("closedwon", gettext_noop("Closed won")),
    ("closedlost", gettext_noop("Closed lost")),
)

# (object type, name, label, type, options)
STANDARD_PROPERTIES: list[tuple[str, str, str, str, list]] = [
    (ObjectType.CONTACT, "email", gettext_noop("Email"), T, []),
    (ObjectType.CONTACT, "first_name", gettext_noop("First name"), T, []),
    (ObjectType.CONTACT, "last_name", gettext_noop("Last name"), T, []),
    (ObjectType.CONTACT, "phone", gettext_noop("Phone number"), T, []),
    (ObjectType.CONTACT, "company_name", gettext_noop("Company name"), T, []),
    (ObjectType.CONTACT, "job_title", gettext_noop("Job title"), T, []),
    (ObjectType.CONTACT, "city", gettext_noop("City"), T, []),
    (ObjectType.CONTACT, "state", gettext_noop("State/Region"), T, []),
    (ObjectType.CONTACT, "country", gettext_noop("Country/Region"), T, []),
    (
        ObjectType.CONTACT,
        "lifecycle_stage",
        gettext_noop("Lifecycle stage"),
        ENUM,
        LIFECYCLE_STAGES,
    ),
    (ObjectType.CONTACT, "lead_status", gettext_noop("Lead status"), ENUM, LEAD_STATUSES),
    (ObjectType.CONTACT, "owner", gettext_noop("Contact owner"), OWNER, []),
    # Set by the unsubscribe link of emails sent to the contact; "Send email" skips them.
    (
        ObjectType.CONTACT,
        "unsubscribed_from_email",
        gettext_noop("Unsubscribed from email"),
        BOOL,
        [],
    ),
    (ObjectType.COMPANY, "name", gettext_noop("Company name"), T, []),
    (ObjectType.COMPANY, "domain", gettext_noop("Company domain name"), T, []),
    (ObjectType.COMPANY, "industry", gettext_noop("Industry"), T, []),
    (ObjectType.COMPANY, "city", gettext_noop("City"), T, []),
    (ObjectType.COMPANY, "state", gettext_noop("State/Region"), T, []),
    (ObjectType.COMPANY, "country", gettext_noop("Country/Region"), T, []),
    (ObjectType.COMPANY, "phone", gettext_noop("Phone number"), T, []),
    (ObjectType.COMPANY, "number_of_employees", gettext_noop("Number of employees"), NUM, []),
    (ObjectType.COMPANY, "annual_revenue", gettext_noop("Annual revenue"), NUM, []),
    (ObjectType.COMPANY, "description", gettext_noop("Description"), TA, []),
    (ObjectType.COMPANY, "owner", gettext_noop("Company owner"), OWNER, []),
    (ObjectType.DEAL, "name", gettext_noop("Deal name"), T, []),
    (ObjectType.DEAL, "stage", gettext_noop("Deal stage"), ENUM, DEAL_STAGES),
    (ObjectType.DEAL, "amount", gettext_noop("Amount"), NUM, []),
    (ObjectType.DEAL, "close_date", gettext_noop("Close date"), DATE, []),
    (ObjectType.DEAL, "description", gettext_noop("Deal description"), TA, []),
    (ObjectType.DEAL, "owner", gettext_noop("Deal owner"), OWNER, []),
    (ObjectType.TICKET, "subject", gettext_noop("Ticket name"), T, []),
    (ObjectType.TICKET, "content", gettext_noop("Ticket description"), TA, []),
    (
        ObjectType.TICKET,
        "status",
        gettext_noop("Ticket status"),
        ENUM,
        _options(
            ("new", gettext_noop("New")),
            ("waiting_on_contact", gettext_noop("Waiting on contact")),
            ("waiting_on_us", gettext_noop("Waiting on us")),
            ("closed", gettext_noop("Closed")),
        ),
    ),
    (
        ObjectType.TICKET,
        "priority",
        gettext_noop("Priority"),
        ENUM,
        _options(
            ("low", gettext_noop("Low")),
            ("medium", gettext_noop("Medium")),
            ("high", gettext_noop("High")),
        ),
    ),
    (ObjectType.TICKET, "owner", gettext_noop("Ticket owner"), OWNER, []),
]

# The property whose value names a record in lists, by object type.
NAME_PROPERTIES = {
    ObjectType.CONTACT: ("first_name", "last_name"),
    ObjectType.COMPANY: ("name",),
    ObjectType.DEAL: ("name",),
    ObjectType.TICKET: ("subject",),
}
# The property used to find an existing record when a form or import brings one again.
MERGE_KEYS = {ObjectType.CONTACT: "email", ObjectType.COMPANY: "domain"}


def standard_properties_create(account: Account) -> None:
    """Create the standard properties an account lacks (safe to run again)."""
    existing = set(
        PropertyDefinition.objects.filter(account=account).values_list("object_type", "name")
    )
    PropertyDefinition.objects.bulk_create(
        [
            PropertyDefinition(
                account=account,
                object_type=object_type,
                name=name,
                label=label,
                type=kind,
                options=options,
                is_standard=True,
                position=position,
            )
            for position, (object_type, name, label, kind, options) in enumerate(
                STANDARD_PROPERTIES
            )
            if (object_type, name) not in existing
        ]
    )
