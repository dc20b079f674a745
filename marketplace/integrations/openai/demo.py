"""Demo data for the seed's three use cases (`make run` → `seed_demo`).

Connected to `crm.signals.demo_seeded`. Idempotent: running `seed_demo` again converges.
The workflows are created from the builder's templates and stay off, so a newcomer
connects OpenAI (the simulator), opens one, turns it on and watches it work.
"""

from __future__ import annotations


def demo_seeded_receiver(sender, *, account, actor, **kwargs) -> None:
    qualify_visitors_demo(account=account, actor=actor)
    format_state_demo(account=account, actor=actor)
    draft_sales_email_demo(account=account, actor=actor)


def qualify_visitors_demo(*, account, actor) -> None:
    """The "Lead qualifier" assistant, the "Contact us" form and its workflow (off)."""


STATE_FORMATTER_INSTRUCTIONS = (
    "You standardise US states. Answer only with the two-letter USPS code of the US state "
    "or region you are given (CA for california, TX for tex.), nothing else. If it is not "
    "a US state, answer UNKNOWN."
)


def format_state_demo(*, account, actor) -> None:
    """The "State formatter" assistant and its workflow (off).

    The demo contacts carry states typed every which way (crm/demo.py STATES); turning
    the workflow on writes their two-letter codes back."""
    from marketplace.integrations.openai.assistants import workspace_assistant_save
    from marketplace.integrations.openai.models import WorkspaceAssistant
    from workflows.builder.catalog import STATE_FORMATTER, TEMPLATES, template_create
    from workflows.models import Workflow

    if not WorkspaceAssistant.objects.for_account(account).filter(name=STATE_FORMATTER).exists():
        workspace_assistant_save(assistant=WorkspaceAssistant(
            account=account, name=STATE_FORMATTER, model="gpt-4o-mini", temperature=0.0,
            instructions=STATE_FORMATTER_INSTRUCTIONS))
    template = next(t for t in TEMPLATES if t.key == "format_state")
    if not Workflow.objects.filter(account=account, object_type=template.object_type,
                                   description=str(template.description)).exists():
        template_create(account=account, key=template.key, actor=actor)


def draft_sales_email_demo(*, account, actor) -> None:
    """The sales email drafter assistant and its workflow (off)."""
