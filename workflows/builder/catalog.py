""""Create from a template": the seed's three use cases, prefilled and editable.

Their "Ask OpenAI assistant" step is a placeholder while no action type is registered
in the "openai" section; `placeholders_upgrade` turns each placeholder into the real
action (keeping the prompt if its form has a `prompt` field) as soon as one is, the
next time the workflow is opened in the builder.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import ObjectType
from workflows.builder import actions, canvas
from workflows.models import Workflow


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    object_type: str


TEMPLATES = [
    Template("qualify_visitors", gettext_lazy("Qualify visitors"), gettext_lazy(
        "The assistant rates a visitor's interest from their answers; hot and warm leads "
        "go to sales first."), ObjectType.CONTACT),
    Template("format_state", gettext_lazy("Format state codes"), gettext_lazy(
        "The assistant turns state names into two-letter codes and writes them back."),
        ObjectType.CONTACT),
    Template("draft_sales_email", gettext_lazy("Draft sales emails"), gettext_lazy(
        "The assistant drafts a prospecting email; a task asks the owner to review and send "
        "it."), ObjectType.DEAL),
]


def _assistant(prompt: str) -> dict:
    return {"type": canvas.PLACEHOLDER, "incomplete": True, "config": {
        "section": actions.OPENAI, "label": str(actions.ASK_OPENAI_LABEL), "prompt": prompt,
        "outputs": [{"name": "response", "label": str(actions.RESPONSE_OUTPUT.label),
                     "type": "text"}]}}


def _qualify_visitors(account=None) -> tuple[list, dict]:
    criteria: list = []
    rating = lambda word: [[{"output": "1.response", "operator": "contains", "value": word}]]
    return criteria, {"start": 1, "last_id": 5, "steps": {
        "1": {**_assistant(_(
            "Rate this visitor's interest as HOT, WARM or COLD, in one word. Job title: "
            "{{ object.job_title }}. Company: {{ object.company_name }}.")), "next": 2},
        "2": {"type": "branch", "next": None, "config": {"paths": [
            {"name": "HOT", "groups": rating("hot"), "next": 3},
            {"name": "WARM", "groups": rating("warm"), "next": 4}], "none_next": 5}},
        "3": {"type": "send_notification", "next": None, "config": {
            "recipients": ["owner"], "subject": _("Hot lead: {{ object.first_name }} "
                                                  "{{ object.last_name }}"),
            "body": "{{ actions.1.response }}"}},
        "4": {"type": "create_task", "next": None, "config": {
            "title": _("Follow up with {{ object.first_name }}"), "assignee": "owner",
            "priority": "medium", "notes": "{{ actions.1.response }}"}},
        "5": {"type": "create_task", "next": None, "config": {
            "title": _("Nurture {{ object.first_name }}"), "assignee": "owner",
            "priority": "low"}},
    }}


# The 50 states and DC: the only answers "Format state codes" writes back.
US_STATE_CODES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
)
STATE_FORMATTER = "State formatter"


def _format_state(account=None) -> tuple[list, dict]:
    """Known state → "State formatter" → If the answer is a US state code: write it back;
    none met: a task for a person (the property is never overwritten with anything else).

    Writing the state changes the record, but it still matches "is known" before and
    after, so the contact does not enroll again — re-enrollment on or off."""
    valid = [[{"output": "1.response", "operator": "eq_any", "values": list(US_STATE_CODES)}]]
    ask = _assistant(_("The two-letter US state code of this state or region: "
                       "{{ object.state }}"))
    # The workspace assistant the demo (and the user guide) creates, chosen when it exists.
    ask["config"]["assistant_name"] = STATE_FORMATTER
    return [[{"property": "state", "operator": "is_known"}]], {"start": 1, "last_id": 4, "steps": {
        # The value last, after a colon: the answer is about that value only.
        "1": {**ask, "next": 2},
        "2": {"type": "branch", "next": None, "config": {"paths": [
            {"name": _("Valid state code"), "groups": valid, "next": 3}], "none_next": 4}},
        "3": {"type": "set_property", "next": None, "config": {
            "property": "state", "value": "{{ actions.1.response }}"}},
        "4": {"type": "create_task", "next": None, "config": {
            "title": _("Check the state of {{ object.first_name }} {{ object.last_name }}"),
            "assignee": "owner", "priority": "medium",
            "notes": _("The assistant answered “{{ actions.1.response }}” for the state "
                       "“{{ object.state }}”, which is not a US state code, so the state was "
                       "left as it is. Correct it by hand.")}},
    }}


def _draft_sales_email(account=None) -> tuple[list, dict]:
    return [[{"property": "stage", "operator": "eq_any", "values": ["appointmentscheduled"]}]], {
        "start": 1, "last_id": 2, "steps": {
            "1": {**_assistant(_("Draft a short prospecting email for the deal "
                                 "“{{ object.name }}” ({{ object.description }}).")), "next": 2},
            "2": {"type": "create_task", "next": None, "config": {
                "title": _("Review and send the drafted email: {{ object.name }}"),
                "task_type": "email", "assignee": "owner", "notes": "{{ actions.1.response }}"}},
        }}


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
        account=account, object_type=template.object_type, name=str(template.name),
        description=str(template.description), criteria=criteria,
        graph=placeholders_upgrade(graph, account=account), created_by=actor,
        **(fields[0] if fields else {}),
    )


def placeholders_upgrade(graph: dict, *, account=None) -> dict:
    """Replace placeholders whose section now has a registered action type.

    The action type may define `placeholder_config(config, *, account) -> dict`: config
    entries it derives from the placeholder's hints for this account (e.g. the OpenAI
    action turns `assistant_name` into the matching workspace assistant's selection)."""
    graph = canvas.normalised(graph) | {k: v for k, v in (graph or {}).items()
                                        if k not in ("start", "steps")}
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
        graph["steps"][key] = {**step, "type": action_type.key, "incomplete": True,
                               "config": {**{k: v for k, v in config.items() if k in fields},
                                          **extra}}
    return graph
