""" "Create from a template": the seed's three use cases, prefilled and editable.

Their "Ask OpenAI assistant" step is a placeholder while no action type is registered
in the "openai" section; `placeholders_upgrade` turns each placeholder into the real
action (keeping the prompt if its form has a `prompt` field) as soon as one is, the
next time the workflow is opened in the builder.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import ObjectType, PropertyType, Role, User
from workflows.builder import actions, canvas
from workflows.models import Workflow


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    object_type: str


TEMPLATES = [
    Template(
        "qualify_visitors",
        gettext_lazy("Qualify visitors"),
        gettext_lazy(
            "The assistant rates a visitor's interest from their answers; hot and warm leads "
            "go to sales first."
        ),
        ObjectType.CONTACT,
    ),
    Template(
        "format_state",
        gettext_lazy("Format state codes"),
        gettext_lazy("The assistant turns state names into two-letter codes and writes them back."),
        ObjectType.CONTACT,
    ),
    Template(
        "draft_sales_email",
        gettext_lazy("Draft sales emails"),
        gettext_lazy(
            "The assistant drafts a prospecting email; a task asks the owner to review and send it."
        ),
        ObjectType.DEAL,
    ),
]


def _assistant(prompt: str, *, assistant_name: str = "", outputs: list | None = None) -> dict:
    """The "Ask OpenAI assistant" placeholder; `assistant_name` names the workspace
    assistant to pre-select when the action becomes real (placeholder_config hook)."""
    return {
        "type": canvas.PLACEHOLDER,
        "incomplete": True,
        "config": {
            "section": actions.OPENAI,
            "label": str(actions.ASK_OPENAI_LABEL),
            "prompt": prompt,
            **({"assistant_name": assistant_name} if assistant_name else {}),
            "outputs": [
                {"name": "response", "label": str(actions.RESPONSE_OUTPUT.label), "type": "text"},
                *(outputs or []),
            ],
        },
    }


LEAD_QUALIFIER = "Lead qualifier"
SALES_EMAIL_DRAFTER = "Sales email drafter"
CONTACT_US = "Contact us"
# The demo's free-text question, when the "Contact us" form does not say otherwise.
LOOKING_FOR = "looking_for"


def _contact_us(account) -> tuple[int | None, str]:
    """The account's "Contact us" form (its id) and the contact property holding its
    free-text answer (the first multi-line text question)."""
    form_model = apps.get_model("crm", "Form")
    form = (
        form_model.objects.filter(account=account, name=CONTACT_US, is_active=True)
        .order_by("pk")
        .first()
        if account is not None
        else None
    )
    if form is None:
        return None, LOOKING_FOR
    field = (
        form.fields.filter(property__type=PropertyType.TEXTAREA).select_related("property").first()
    )
    return form.pk, field.property.name if field else LOOKING_FOR


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


def _qualify_visitors(account=None) -> tuple[list, dict, dict]:
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
    outputs = [
        {"name": "rating", "label": "rating", "type": "text"},
        {"name": "reason", "label": "reason", "type": "text"},
    ]
    return (
        criteria,
        {
            "start": 1,
            "last_id": 6,
            "steps": {
                "1": {
                    **_assistant(prompt, assistant_name=LEAD_QUALIFIER, outputs=outputs),
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
        {"form_id": form_id, "re_enroll": True},
    )


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
STATE_FORMATTER = "State formatter"


def _format_state(account=None) -> tuple[list, dict]:
    """Known state → "State formatter" → If the answer is a US state code: write it back;
    none met: a task for a person (the property is never overwritten with anything else).

    Writing the state changes the record, but it still matches "is known" before and
    after, so the contact does not enroll again — re-enrollment on or off."""
    valid = [[{"output": "1.response", "operator": "eq_any", "values": list(US_STATE_CODES)}]]
    ask = _assistant(
        _("The two-letter US state code of this state or region: {{ object.state }}"),
        assistant_name=STATE_FORMATTER,
    )
    return [[{"property": "state", "operator": "is_known"}]], {
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


def _draft_sales_email(account=None) -> tuple[list, dict, dict]:
    """A deal enters "Qualified to buy" (again, with re-enrollment) → the Sales email
    drafter writes from the deal's contact and company → an email task for the deal
    owner, with the draft in its notes, on the deal and its contact."""
    prompt = _(
        "Draft a short prospecting email for the deal “{{ object.name }}”.\n"
        "First name: {{ associated.contact.first_name }}\n"
        "Last name: {{ associated.contact.last_name }}\n"
        "Job title: {{ associated.contact.job_title }}\n"
        "Company: {{ associated.company.name }}\n"
        "Industry: {{ associated.company.industry }}\n"
        "Deal: {{ object.description }}\n"
        "Sender: {{ object.owner }}"
    )
    return (
        [[{"property": "stage", "operator": "eq_any", "values": ["qualifiedtobuy"]}]],
        {
            "start": 1,
            "last_id": 2,
            "steps": {
                "1": {**_assistant(prompt, assistant_name=SALES_EMAIL_DRAFTER), "next": 2},
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
        {"re_enroll": True},
    )


# One builder function per template: (account) -> (criteria, graph[, fields]), fresh dicts
# each time; `fields` (optional) sets other Workflow fields, e.g. the "submitted form"
# trigger. `account` may be None (the template's shape without the account's choices).
GRAPHS = {
    "qualify_visitors": _qualify_visitors,
    "format_state": _format_state,
    "draft_sales_email": _draft_sales_email,
}


def template_create(*, account, key: str, actor) -> Workflow:
    template = next((t for t in TEMPLATES if t.key == key), None)
    if template is None:
        raise KeyError(key)
    criteria, graph, *fields = GRAPHS[key](account=account)
    # A draft only: the placeholders keep it from being published until they are real.
    return Workflow.objects.create(
        account=account,
        object_type=template.object_type,
        name=str(template.name),
        description=str(template.description),
        criteria=criteria,
        graph=placeholders_upgrade(graph, account=account),
        created_by=actor,
        **(fields[0] if fields else {}),
    )


def placeholders_upgrade(graph: dict, *, account=None) -> dict:
    """Replace placeholders whose section now has a registered action type.

    The action type may define `placeholder_config(config, *, account) -> dict`: config
    entries it derives from the placeholder's hints for this account (e.g. the OpenAI
    action turns `assistant_name` into the matching workspace assistant's selection)."""
    graph = canvas.normalised(graph) | {
        k: v for k, v in (graph or {}).items() if k not in ("start", "steps")
    }
    for key, step in list(graph["steps"].items()):
        if step.get("type") != canvas.PLACEHOLDER:
            continue
        config = step.get("config") or {}
        real = actions.types_in(actions.section_key(config.get("section") or actions.OPENAI))
        if not real:
            continue
        action_type = real[0]
        fields = action_type.config_form.base_fields if action_type.config_form else {}
        derived = getattr(action_type, "placeholder_config", None)
        extra = derived(config, account=account) if derived and account is not None else {}
        graph["steps"][key] = {
            **step,
            "type": action_type.key,
            "incomplete": True,
            "config": {**{k: v for k, v in config.items() if k in fields}, **extra},
        }
    return graph
