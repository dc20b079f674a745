"""CRM actions: create a task, set a property value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import display
from crm.activities import task_links_insert, tasks_insert
from crm.models import Account, ObjectType, PropertyDefinition, PropertyType, Task, User
from crm.services import associated_records, definitions_for, record_update, values_validate
from workflows.actions.common import OWNER, users_check
from workflows.context import ExecutionContext
from workflows.outcomes import PermanentError
from workflows.registry import (
    ActionType,
    CanvasText,
    Output,
    OutputType,
    StepDescription,
    register,
)


class CreateTaskForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=255)
    task_type = forms.ChoiceField(
        label=gettext_lazy("Type"), choices=Task.Type.choices, required=False
    )
    priority = forms.ChoiceField(
        label=gettext_lazy("Priority"), choices=Task.priority_choices, required=False
    )
    due_in = forms.IntegerField(
        label=gettext_lazy("Due in"), min_value=0, max_value=3650, required=False
    )
    due_unit = forms.ChoiceField(
        label=gettext_lazy("Unit"),
        required=False,
        choices=[("days", gettext_lazy("days")), ("hours", gettext_lazy("hours"))],
    )
    # A user id, or "owner" for the record owner.
    assignee = forms.CharField(label=gettext_lazy("Assigned to"), required=False)
    notes = forms.CharField(label=gettext_lazy("Notes"), widget=forms.Textarea, required=False)
    associate_with = forms.MultipleChoiceField(
        label=gettext_lazy("Also associate with"),
        required=False,
        choices=ObjectType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("The enrolled record's associated records of these objects."),
    )


@register
class CreateTask(ActionType):
    key = "create_task"
    label = gettext_lazy("Create task")
    section = "crm"
    config_form = CreateTaskForm
    outputs = (Output("task_id", gettext_lazy("Task"), OutputType.NUMBER),)
    batchable = True
    raw_config_keys = frozenset({"assignee", "due_in"})
    user_config_keys = frozenset({"assignee"})
    output_links = {"task_id": display.task_url}

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        lines = [canvas.chips(config["title"])] if config.get("title") else []
        if config.get("assignee") not in (None, ""):
            lines.append(
                escape(_("Assigned to %(user)s") % {"user": canvas.user(config["assignee"])})
            )
        return "<br>".join(lines)

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        if clean.get("assignee") not in (None, ""):
            clean["assignee"] = users_check(account, [clean["assignee"]])[0]
        return clean

    def apply(self, context: ExecutionContext, outputs: dict[str, Any]) -> dict[str, Any]:
        return self.apply_many([(context, outputs)])[0]

    def apply_many(
        self, items: list[tuple[ExecutionContext, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Every task of a batch in two INSERTs (tasks, then their record links:
        crm.activities) after one query for the assignees. Runs in the completion transaction, which commits
        only if this attempt still owns each execution; the unique key stops a second
        task in any other case (the engine then completes the batch one by one)."""
        now = timezone.now()
        wanted = {}
        for context, _outputs in items:
            assignee = context.config.get("assignee")
            if assignee not in (None, ""):
                wanted[id(context)] = (
                    context.record.owner_id if str(assignee) == OWNER else int(assignee)
                )
        users = User.objects.filter(
            pk__in={pk for pk in wanted.values() if pk is not None}, is_active=True
        ).in_bulk()
        rows = []
        for context, _outputs in items:
            config = context.config
            due_at = None
            if config.get("due_in") not in (None, ""):
                unit = config.get("due_unit") or "days"
                due_at = now + dt.timedelta(**{unit: int(config["due_in"])})
            assignee = users.get(wanted.get(id(context)))
            if assignee is not None and assignee.account_id != context.account.pk:
                assignee = None
            rows.append(
                {
                    "idempotency_key": context.idempotency_key,
                    "account_id": context.account.pk,
                    "title": (config.get("title") or "")[:255] or _("Follow up"),
                    "type": config.get("task_type") or Task.Type.TODO,
                    "priority": config.get("priority") or Task.Priority.NONE,
                    "due_at": due_at,
                    "assignee_id": assignee.pk if assignee is not None else None,
                    "notes": config.get("notes") or "",
                }
            )
        task_ids = tasks_insert(rows, now=now)
        links = [
            (task_id, context.record.pk)
            for task_id, (context, _outputs) in zip(task_ids, items, strict=True)
        ]
        for task_id, (context, _outputs) in zip(task_ids, items, strict=True):
            # "Also associate with": the record's associated contacts, companies…
            types = [
                t
                for t in context.raw_config.get("associate_with") or []
                if t != context.record.object_type
            ]
            if types:
                links += [
                    (task_id, pk)
                    for pk in associated_records(context.record)
                    .filter(object_type__in=types)
                    .values_list("pk", flat=True)
                ]
        task_links_insert(links)
        return [
            {**outputs, "task_id": task_id}
            for task_id, (_context, outputs) in zip(task_ids, items, strict=True)
        ]


def _value_text(target: PropertyDefinition, users: dict[int, User]) -> Callable[[Any], str]:
    """An output value of a Set property step as the record page shows it."""
    return lambda value: display.value_label(target, props_value(target, value), users=users)


def props_value(definition: PropertyDefinition, text: Any) -> Any:
    """A value as text (a step's input or output) as the property stores it, for display;
    the text itself when it does not parse."""
    try:
        return values_validate({definition.name: definition}, {definition.name: text})[
            definition.name
        ]
    except (ValidationError, TypeError, ValueError):
        return text


# Which stored types a property of type X can take its value from.
_COMPATIBLE: dict[str, set[str]] = {
    PropertyType.TEXT: set(PropertyType.values),
    PropertyType.TEXTAREA: set(PropertyType.values),
    PropertyType.NUMBER: {PropertyType.NUMBER},
    PropertyType.DATE: {PropertyType.DATE},
    PropertyType.DATETIME: {PropertyType.DATETIME, PropertyType.DATE},
    PropertyType.BOOLEAN: {PropertyType.BOOLEAN},
    PropertyType.ENUMERATION: {PropertyType.ENUMERATION},
    PropertyType.OWNER: {PropertyType.OWNER},
}


class SetPropertyForm(forms.Form):
    property = forms.CharField(label=gettext_lazy("Property to set"), max_length=100)
    # A static value or a token ({{ object.x }}); empty clears the property.
    value = forms.CharField(label=gettext_lazy("Value"), required=False, max_length=65535)
    copy_from = forms.CharField(
        label=gettext_lazy("Copy from property"), required=False, max_length=100
    )


@register
class SetPropertyValue(ActionType):
    key = "set_property"
    label = gettext_lazy("Set property value")
    section = "crm"
    config_form = SetPropertyForm
    outputs = (Output("value", gettext_lazy("New value")),)
    batchable = True
    raw_config_keys = frozenset({"property", "copy_from"})

    def token_fields(
        self, config: dict[str, Any], *, definitions: dict[str, PropertyDefinition]
    ) -> dict[str, str]:
        """The value takes tokens, typed as the property it sets."""
        target = definitions.get(config.get("property") or "")
        return {"value": target.type if target is not None else "text"}

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        if not config.get("property"):
            return ""
        value = config.get("value") or ""
        shown = (
            canvas.chips(value)
            if "{{" in value
            else escape(canvas.option(config["property"], value))
        )
        return format_html(
            "{} <strong>{}</strong> → {}",
            _("Set"),
            canvas.property(config["property"]),
            mark_safe(shown),  # noqa: S308 - escaped or chips (safe) above
        )

    def describe_steps(
        self, configs: list[dict[str, Any]], *, account: Account
    ) -> list[StepDescription]:
        """The property by its label and the value as the record page shows it ("Lead
        status" → "Unqualified", not lead_status → unqualified), one query for all."""
        names = {c.get(k) for c in configs for k in ("property", "copy_from") if c.get(k)}
        definitions: dict[str, PropertyDefinition] = {}
        for definition in PropertyDefinition.objects.filter(account=account, name__in=names):
            definitions.setdefault(definition.name, definition)
        users = User.objects.filter(account=account).in_bulk()
        described = []
        for config in configs:
            target = definitions.get(config.get("property") or "")
            value = config.get("value")
            inputs = self._inputs_described(config, users=users)
            shown = {
                str(SetPropertyForm.base_fields["property"].label): display.property_label(target)
                or str(config.get("property") or ""),
                str(SetPropertyForm.base_fields["copy_from"].label): display.property_label(
                    definitions.get(config.get("copy_from") or "")
                )
                or str(config.get("copy_from") or ""),
            }
            if target is not None and value not in (None, "") and "{{" not in str(value):
                shown[str(SetPropertyForm.base_fields["value"].label)] = display.value_label(
                    target, props_value(target, value), users=users
                )
            described.append(
                StepDescription(
                    [(label, shown.get(label, text)) for label, text in inputs],
                    {o.name: str(o.label) for o in self.outputs},
                    output_texts={"value": _value_text(target, users)} if target else {},
                )
            )
        return described

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        definitions = definitions_for(account, object_type)
        target = definitions.get(clean["property"])
        if target is None:
            raise ValidationError(
                _("There is no property “%(name)s”.") % {"name": clean["property"]}
            )
        source_name = clean.get("copy_from")
        if source_name:
            source = definitions.get(source_name)
            if source is None:
                raise ValidationError(_("There is no property “%(name)s”.") % {"name": source_name})
            compatible = source.type in _COMPATIBLE[PropertyType(target.type)]
            if target.type == PropertyType.ENUMERATION and compatible:
                allowed = {o["value"] for o in target.options}
                compatible = {o["value"] for o in source.options} <= allowed
            if not compatible:
                raise ValidationError(
                    _(
                        "“%(source)s” (%(source_type)s) cannot be copied into “%(target)s” "
                        "(%(target_type)s)."
                    )
                    % {
                        "source": source.label,
                        "source_type": source.get_type_display(),
                        "target": target.label,
                        "target_type": target.get_type_display(),
                    }
                )
        return clean

    def apply(self, context: ExecutionContext, outputs: dict[str, Any]) -> dict[str, Any]:
        config = context.config
        if config.get("copy_from"):
            value = context.record.properties.get(config["copy_from"])
            target = context.definitions.get(config["property"])
            if target is not None and target.type in (PropertyType.TEXT, PropertyType.TEXTAREA):
                source = context.definitions.get(config["copy_from"])
                from crm.properties import display

                value = display(source, value) if source is not None else value
        else:
            value = config.get("value")
        name = config["property"]
        try:
            record_update(
                record=context.record,
                values={name: value},
                source="workflow",
                idempotency_key=context.idempotency_key,
            )
            # What is stored now, changed or not: the normalised value.
            stored = (
                values_validate(context.definitions, {name: value})[name]
                if name in context.definitions
                else None
            )
        except ValidationError as error:
            raise PermanentError(" ".join(error.messages)) from None
        if stored is None:
            context.record.properties.pop(name, None)
        else:
            context.record.properties[name] = stored
        return {**outputs, "value": "" if stored is None else str(stored)}
