"""The seed's three use cases as "Create from a template" workflows, prefilled and
editable: each starts with an "Ask OpenAI assistant" step that picks the demo's
workspace assistant by name when the account has it (registered in apps.py). The third
drafts a sales email that the deal owner approves (and may edit) before it is sent,
using the Approvals and Email packages' actions by their keys; its older form (a task
holding the draft) stays as an option.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Form, ObjectType, PropertyType, Role, User
from marketplace.integrations.openai.listing import ACTION_KEY
from marketplace.integrations.openai.models import WorkspaceAssistant
from workflows.registry import WorkflowTemplate

LEAD_QUALIFIER = "Lead qualifier"
SALES_EMAIL_DRAFTER = "Sales email drafter"
STATE_FORMATTER = "State formatter"
CONTACT_US = "Contact us"
# The demo's free-text question, when the "Contact us" form does not say otherwise.
LOOKING_FOR = "looking_for"


def _assistant(account, prompt: str, *, assistant_name: str) -> dict:
    """An "Ask OpenAI assistant" step, incomplete until its assistant is chosen: the
    account's active workspace assistant named `assistant_name`, when it has one."""
    found = (
        WorkspaceAssistant.objects.for_account(account)
        .active()
        .filter(name=assistant_name)
        .order_by("pk")
        .first()
        if account is not None
        else None
    )
    config = {"prompt": prompt, **({"assistant": found.choice_value} if found else {})}
    return {"type": ACTION_KEY, "incomplete": True, "config": config}


def _contact_us(account) -> tuple[int | None, str]:
    """The account's "Contact us" form (its id) and the contact property holding its
    free-text answer (the first multi-line text question)."""
    form = (
        Form.objects.filter(account=account, name=CONTACT_US, is_active=True).order_by("pk").first()
        if account is not None
        else None
    )
    if form is None:
        return None, LOOKING_FOR
    field = (
        form.fields.filter(property__type=PropertyType.TEXTAREA).select_related("property").first()
    )
    return form.pk, field.property.name if field and field.property else LOOKING_FOR


def _sales_reps(account) -> list[int]:
    return (
        list(
            User.objects.filter(account=account, role=Role.SALES_REP, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if account is not None
        else []
    )


def _qualify_visitors(account) -> dict:
    """Contact us form → Lead qualifier (rating, reason) → HOT: notify the owner and the
    sales reps + a high-priority call task; WARM: a task; COLD: lead status Unqualified.
    Without a "Contact us" form the trigger is left for the builder to fix: contacts whose
    answer property is known (review refuses it while no such property exists)."""
    form_id, answer = _contact_us(account)
    criteria = [] if form_id else [[{"property": answer, "operator": "is_known"}]]
    reps = _sales_reps(account)
    assignee = reps[0] if reps else "owner"  # form contacts have no owner yet

    def rating(word: str) -> list:
        return [[{"output": "1.rating", "operator": "eq_any", "values": [word]}]]

    name = "{{ object.first_name }} {{ object.last_name }}"
    prompt = _(
        "Rate this visitor's interest from their answer.\n"
        "Looking for: %(answer)s\nRole: {{ object.job_title }}\n"
        "Company: {{ object.company_name }}"
    ) % {"answer": f"{{{{ object.{answer} }}}}"}
    return {
        "criteria": criteria,
        "form_id": form_id,
        "re_enroll": True,
        "graph": {
            "start": 1,
            "last_id": 6,
            "steps": {
                "1": {
                    **_assistant(account, prompt, assistant_name=LEAD_QUALIFIER),
                    "next": 2,
                },
                "2": {
                    "type": "branch",
                    "next": None,
                    "config": {
                        "paths": [
                            {"name": "HOT", "groups": rating("hot"), "next": 3},
                            {"name": "WARM", "groups": rating("warm"), "next": 5},
                        ],
                        "none_next": 6,
                    },
                },
                "3": {
                    "type": "send_notification",
                    "next": 4,
                    "config": {
                        "recipients": ["owner", *reps],
                        "subject": _("Hot lead: %(name)s") % {"name": name},
                        "body": "{{ actions.1.reason }}",
                    },
                },
                "4": {
                    "type": "create_task",
                    "next": None,
                    "config": {
                        "title": _("Call %(name)s (hot lead)") % {"name": name},
                        "task_type": "call",
                        "priority": "high",
                        "assignee": assignee,
                        "due_in": 1,
                        "due_unit": "days",
                        "notes": f"{{{{ actions.1.reason }}}}\n\n{{{{ object.{answer} }}}}",
                    },
                },
                "5": {
                    "type": "create_task",
                    "next": None,
                    "config": {
                        "title": _("Follow up with %(name)s") % {"name": name},
                        "task_type": "todo",
                        "priority": "medium",
                        "assignee": assignee,
                        "notes": f"{{{{ actions.1.reason }}}}\n\n{{{{ object.{answer} }}}}",
                    },
                },
                "6": {
                    "type": "set_property",
                    "next": None,
                    "config": {"property": "lead_status", "value": "unqualified"},
                },
            },
        },
    }


# The 50 states and DC: the only answers "Format state codes" writes back.
US_STATE_CODES = (
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
)


def _format_state(account) -> dict:
    """Known state → "State formatter" → If the answer is a US state code: write it back;
    none met: a task for a person (the property is never overwritten with anything else).

    Writing the state changes the record, but it still matches "is known" before and
    after, so the contact does not enroll again — re-enrollment on or off."""
    valid = [[{"output": "1.response", "operator": "eq_any", "values": list(US_STATE_CODES)}]]
    ask = _assistant(
        account,
        _("The two-letter US state code of this state or region: {{ object.state }}"),
        assistant_name=STATE_FORMATTER,
    )
    graph = {
        "start": 1,
        "last_id": 4,
        "steps": {
            # The value last, after a colon: the answer is about that value only.
            "1": {**ask, "next": 2},
            "2": {
                "type": "branch",
                "next": None,
                "config": {
                    "paths": [{"name": _("Valid state code"), "groups": valid, "next": 3}],
                    "none_next": 4,
                },
            },
            "3": {
                "type": "set_property",
                "next": None,
                "config": {"property": "state", "value": "{{ actions.1.response }}"},
            },
            "4": {
                "type": "create_task",
                "next": None,
                "config": {
                    "title": _("Check the state of {{ object.first_name }} {{ object.last_name }}"),
                    "assignee": "owner",
                    "priority": "medium",
                    "notes": _(
                        "The assistant answered “{{ actions.1.response }}” for the state "
                        "“{{ object.state }}”, which is not a US state code, so the state was "
                        "left as it is. Correct it by hand."
                    ),
                },
            },
        },
    }
    return {"criteria": [[{"property": "state", "operator": "is_known"}]], "graph": graph}


def _draft_prompt() -> str:
    return _(
        "Draft a short prospecting email for the deal “{{ object.name }}”.\n"
        "First name: {{ associated.contact.first_name }}\n"
        "Last name: {{ associated.contact.last_name }}\n"
        "Job title: {{ associated.contact.job_title }}\n"
        "Company: {{ associated.company.name }}\n"
        "Industry: {{ associated.company.industry }}\n"
        "Deal: {{ object.description }}\n"
        "Sender: {{ object.owner }}"
    )


QUALIFIED_TO_BUY = [[{"property": "stage", "operator": "eq_any", "values": ["qualifiedtobuy"]}]]


def _draft_approve_send(account) -> dict:
    """A deal enters "Qualified to buy" → the Sales email drafter writes the email → the
    deal owner approves it (editing it if need be) → it is sent to the deal's contact.
    Rejected: nothing is sent. No decision in 3 days: a task for the owner with the draft.
    The three outcomes are the paths of the If/then right below the approval, as the
    builder lays them out when a "Wait for approval" is added."""

    def decision(word: str) -> list:
        return [[{"output": "2.decision", "operator": "eq_any", "values": [word]}]]

    return {
        "criteria": QUALIFIED_TO_BUY,
        "re_enroll": True,
        "graph": {
            "start": 1,
            "last_id": 5,
            "steps": {
                "1": {
                    **_assistant(account, _draft_prompt(), assistant_name=SALES_EMAIL_DRAFTER),
                    "next": 2,
                },
                "2": {
                    "type": "approval_wait",
                    "next": 3,
                    "config": {
                        "approver": "owner",
                        "draft": "{{ actions.1.response }}",
                        "instructions": _(
                            "Read the draft, fix anything wrong, then approve to send it to "
                            "the deal’s contact."
                        ),
                        "timeout_days": 3,
                    },
                },
                "3": {
                    "type": "branch",
                    "next": None,
                    "config": {
                        "paths": [
                            {"name": _("Approved"), "groups": decision("approved"), "next": 4},
                            # Its own path, empty: nothing is sent (add steps to it).
                            {"name": _("Rejected"), "groups": decision("rejected"), "next": None},
                            {"name": _("No decision"), "groups": decision("timeout"), "next": 5},
                        ],
                        "none_next": None,
                    },
                },
                "4": {
                    "type": "email_contact",
                    "next": None,
                    "config": {
                        "to": "associated",
                        "sender": "shared",
                        "subject": _("{{ object.name }}: a note from {{ object.owner }}"),
                        "body": "{{ actions.2.text }}",
                        "html_body": "",
                    },
                },
                "5": {
                    "type": "create_task",
                    "next": None,
                    "config": {
                        "title": _("Review and send the drafted email: {{ object.name }}"),
                        "task_type": "email",
                        "priority": "medium",
                        "assignee": "owner",
                        "notes": "{{ actions.1.response }}",
                        "associate_with": ["contact"],
                    },
                },
            },
        },
    }


def _draft_sales_email(account) -> dict:
    """A deal enters "Qualified to buy" (again, with re-enrollment) → the Sales email
    drafter writes from the deal's contact and company → an email task for the deal
    owner, with the draft in its notes, on the deal and its contact."""
    prompt = _draft_prompt()
    return {
        "criteria": QUALIFIED_TO_BUY,
        "re_enroll": True,
        "graph": {
            "start": 1,
            "last_id": 2,
            "steps": {
                "1": {
                    **_assistant(account, prompt, assistant_name=SALES_EMAIL_DRAFTER),
                    "next": 2,
                },
                "2": {
                    "type": "create_task",
                    "next": None,
                    "config": {
                        "title": _("Review and send the drafted email: {{ object.name }}"),
                        "task_type": "email",
                        "priority": "medium",
                        "assignee": "owner",
                        "notes": "{{ actions.1.response }}",
                        "associate_with": ["contact"],
                    },
                },
            },
        },
    }


TEMPLATES = (
    WorkflowTemplate(
        "qualify_visitors",
        gettext_lazy("Qualify visitors"),
        gettext_lazy(
            "The assistant rates a visitor's interest from their answers; hot and warm leads "
            "go to sales first."
        ),
        ObjectType.CONTACT,
        _qualify_visitors,
        order=10,
    ),
    WorkflowTemplate(
        "format_state",
        gettext_lazy("Format state codes"),
        gettext_lazy("The assistant turns state names into two-letter codes and writes them back."),
        ObjectType.CONTACT,
        _format_state,
        order=20,
    ),
    WorkflowTemplate(
        "draft_approve_send",
        gettext_lazy("Draft, approve and send sales emails"),
        gettext_lazy(
            "The assistant drafts a prospecting email; the deal owner edits and approves it, "
            "and it goes to the deal’s contact."
        ),
        ObjectType.DEAL,
        _draft_approve_send,
        order=30,
    ),
    WorkflowTemplate(
        "draft_sales_email",
        gettext_lazy("Draft sales emails"),
        gettext_lazy(
            "The assistant drafts a prospecting email; a task asks the owner to review and send it."
        ),
        ObjectType.DEAL,
        _draft_sales_email,
        order=35,
    ),
)
