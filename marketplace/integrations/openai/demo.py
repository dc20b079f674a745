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


def format_state_demo(*, account, actor) -> None:
    """The "State formatter" assistant and its workflow (off)."""


def draft_sales_email_demo(*, account, actor) -> None:
    """The sales email drafter assistant and its workflow (off)."""
