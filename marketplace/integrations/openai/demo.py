"""Demo data for the seed's three use cases (`make run` → `seed_demo`).

Connected to `crm.signals.demo_seeded`. Idempotent: running `seed_demo` again converges.
The workflows are created from the builder's templates and stay off, so a newcomer
connects OpenAI (the simulator), opens one, turns it on and watches it work.
"""

from __future__ import annotations

from crm import services
from crm.models import (
    Form,
    FormField,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    Record,
    Role,
    User,
)
from marketplace.integrations.openai import workflow_templates
from marketplace.integrations.openai.models import OutputFormat, WorkspaceAssistant
from workflows.builder.templates import template_create
from workflows.models import Workflow

DEMO_MODEL = "gpt-4o-mini"
LEAD_QUALIFIER_INSTRUCTIONS = (
    "Rate the lead's interest as HOT, WARM or COLD from what the visitor is looking for, "
    "and give the reason in one sentence."
)
LEAD_QUALIFIER_FIELDS = [
    {"name": "rating", "type": "enumeration", "options": ["HOT", "WARM", "COLD"]},
    {"name": "reason", "type": "text", "options": []},
]
SALES_EMAIL_INSTRUCTIONS = (
    "Draft a short prospecting email to the contact, from the sender, about the deal. "
    "Start with a subject line."
)
LOOKING_FOR_LABEL = "What are you looking for?"
# Contact us questions after the email: (property name, required).
CONTACT_US_QUESTIONS = [
    ("first_name", True),
    ("last_name", False),
    ("company_name", False),
    ("job_title", False),
    (workflow_templates.LOOKING_FOR, True),
]
# Deals at the pipeline's first stage; moving one to "Qualified to buy" drafts an email.
DEMO_DEALS = [
    # (deal, amount, description, contact (first, last, email, title), company (name, domain, industry))
    (
        "Northwind Labs — 50 seats",
        "24000",
        "Annual plan for the support team.",
        ("Jane", "Smith", "jane.smith@northwind-labs.example", "Head of Support"),
        ("Northwind Labs", "northwind-labs.example", "Software"),
    ),
    (
        "Contoso Health — pilot",
        "8000",
        "A three-month pilot in two clinics.",
        ("Wei", "Chen", "wei.chen@contoso-health.example", "IT Director"),
        ("Contoso Health", "contoso-health.example", "Healthcare"),
    ),
    (
        "Initech Retail — rollout",
        "56000",
        "Roll-out to 40 stores.",
        ("Maria", "Garcia", "maria.garcia@initech-retail.example", "Operations Manager"),
        ("Initech Retail", "initech-retail.example", "Retail"),
    ),
]


def demo_seeded_receiver(sender, *, account, actor, **kwargs) -> None:
    qualify_visitors_demo(account=account, actor=actor)
    format_state_demo(account=account, actor=actor)
    draft_sales_email_demo(account=account, actor=actor)


def qualify_visitors_demo(*, account, actor) -> None:
    """The "Lead qualifier" assistant, the "Contact us" form and its workflow (off)."""
    workspace_assistant_ensure(
        account,
        workflow_templates.LEAD_QUALIFIER,
        LEAD_QUALIFIER_INSTRUCTIONS,
        fields=LEAD_QUALIFIER_FIELDS,
    )
    contact_us_form_ensure(account=account, actor=actor)
    _workflow_ensure(account, "qualify_visitors", actor)


STATE_FORMATTER_INSTRUCTIONS = (
    "You standardise US states. Answer only with the two-letter USPS code of the US state "
    "or region you are given (CA for california, TX for tex.), nothing else. If it is not "
    "a US state, answer UNKNOWN."
)


def format_state_demo(*, account, actor) -> None:
    """The "State formatter" assistant and its workflow (off).

    The demo contacts carry states typed every which way (crm/demo.py STATES); turning
    the workflow on writes their two-letter codes back (the template pre-selects the
    assistant by name)."""
    workspace_assistant_ensure(
        account, workflow_templates.STATE_FORMATTER, STATE_FORMATTER_INSTRUCTIONS
    )
    _workflow_ensure(account, "format_state", actor)


def draft_sales_email_demo(*, account, actor) -> None:
    """The sales email drafter assistant, deals at the first stage with their contact
    and company, and the workflow (off)."""
    workspace_assistant_ensure(
        account, workflow_templates.SALES_EMAIL_DRAFTER, SALES_EMAIL_INSTRUCTIONS
    )
    owner = (
        User.objects.filter(account=account, role=Role.SALES_REP, is_active=True)
        .order_by("pk")
        .first()
        or actor
    )
    for deal_name, amount, description, person, company in DEMO_DEALS:
        if Record.objects.filter(
            account=account, object_type=ObjectType.DEAL, name=deal_name
        ).exists():
            continue
        deal = services.record_create(
            account=account,
            object_type=ObjectType.DEAL,
            values={
                "name": deal_name,
                "stage": "appointmentscheduled",
                "amount": amount,
                "description": description,
                "owner": owner.pk,
            },
            source="demo",
        )
        first, last, email, title = person
        contact = services.record_create(
            account=account,
            object_type=ObjectType.CONTACT,
            values={
                "first_name": first,
                "last_name": last,
                "email": email,
                "job_title": title,
                "company_name": company[0],
                "owner": owner.pk,
            },
            source="demo",
        )
        organisation = services.record_create(
            account=account,
            object_type=ObjectType.COMPANY,
            values={
                "name": company[0],
                "domain": company[1],
                "industry": company[2],
                "owner": owner.pk,
            },
            source="demo",
        )
        for other in (contact, organisation):
            services.association_create(record=deal, other=other)
        services.association_create(record=contact, other=organisation)
    _workflow_ensure(account, "draft_sales_email", actor)


def workspace_assistant_ensure(
    account, name: str, instructions: str, *, fields: list | None = None
) -> WorkspaceAssistant:
    existing = WorkspaceAssistant.objects.for_account(account).filter(name=name).first()
    if existing is not None:
        return existing
    return WorkspaceAssistant.objects.create(
        account=account,
        name=name,
        instructions=instructions,
        model=DEMO_MODEL,
        output_format=OutputFormat.STRUCTURED if fields else OutputFormat.TEXT,
        output_fields=fields or [],
    )


def contact_us_form_ensure(*, account, actor) -> Form:
    """The public "Contact us" form: email, name, company, job title and the free-text
    "What are you looking for?" (a multi-line contact property)."""
    from crm.webforms import form_create

    looking_for, _created = PropertyDefinition.objects.get_or_create(
        account=account,
        object_type=ObjectType.CONTACT,
        name=workflow_templates.LOOKING_FOR,
        defaults={"label": LOOKING_FOR_LABEL, "type": PropertyType.TEXTAREA, "position": 1000},
    )
    form = (
        Form.objects.filter(account=account, name=workflow_templates.CONTACT_US)
        .order_by("pk")
        .first()
    )
    if form is not None:
        return form
    form = form_create(account=account, name=workflow_templates.CONTACT_US, created_by=actor)
    form.introduction = "Tell us what you need and a member of our team will get back to you."
    form.save(update_fields=["introduction"])
    definitions = services.definitions_for(account, ObjectType.CONTACT)
    for position, (name, required) in enumerate(CONTACT_US_QUESTIONS, start=1):
        definition = definitions[name]
        FormField.objects.create(
            form=form,
            key=name,
            label=definition.label,
            property=definition,
            required=required,
            position=position,
        )
    return form


def _workflow_ensure(account, key: str, actor) -> None:
    template = next(t for t in workflow_templates.TEMPLATES if t.key == key)
    if not Workflow.objects.filter(account=account, name=str(template.name)).exists():
        template_create(account=account, key=key, actor=actor)
