"""Control actions: Delay and If/then branch. They change what runs next, and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account, PropertyDefinition, PropertyType
from crm.properties import index_columns
from crm.services import definitions_for
from workflows.context import ExecutionContext
from workflows.criteria import branch_matches, parse_branch_groups
from workflows.registry import ActionType, CanvasText, Output, Route, register

UNITS = [
    ("minutes", gettext_lazy("minutes")),
    ("hours", gettext_lazy("hours")),
    ("days", gettext_lazy("days")),
]


class DelayForm(forms.Form):
    amount = forms.IntegerField(
        label=gettext_lazy("Delay for"), min_value=0, max_value=100000, required=False
    )
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=UNITS, required=False)
    # Or: until the date in this date/datetime property.
    until_property = forms.CharField(label=gettext_lazy("Until the date in"), required=False)


@register
class Delay(ActionType):
    """A due time in the ledger, never a Celery countdown: the next step is inserted
    `pending` with `due_at` in the future and the sweeper publishes it when due. A date
    property that is empty or in the past continues at once."""

    key = "delay"
    label = gettext_lazy("Delay")
    section = "control"
    config_form = DelayForm
    outputs = (Output("until", gettext_lazy("Continued at")),)
    batchable = True
    raw_config_keys = frozenset({"until_property"})

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        if config.get("until_property"):
            return escape(_("Until %(date)s") % {"date": canvas.property(config["until_property"])})
        if config.get("amount") not in (None, ""):
            unit = dict(UNITS).get(config.get("unit") or "days", config.get("unit"))
            return escape(f"{config['amount']} {unit}")
        return ""

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        clean = super().validate_config(config, account=account, object_type=object_type)
        name = clean.get("until_property")
        if name:
            definition = definitions_for(account, object_type).get(name)
            dates = (PropertyType.DATE, PropertyType.DATETIME)
            if definition is None or definition.type not in dates:
                raise ValidationError(_("Pick a date property to wait for."))
        elif clean.get("amount") in (None, ""):
            raise ValidationError(_("Enter how long to wait, or pick a date property."))
        return clean

    def _until(self, context: ExecutionContext) -> dt.datetime:
        config = context.raw_config
        now = timezone.now()
        name = config.get("until_property")
        if name:
            definition = context.definitions.get(name)
            value = context.record.properties.get(name)
            if definition is None or value is None:
                return now
            return index_columns(definition, value)["datetime_value"] or now
        return now + dt.timedelta(**{config.get("unit") or "days": int(config.get("amount") or 0)})

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        return {"until": self._until(context).isoformat()}

    def route(
        self, context: ExecutionContext, step: dict[str, Any], outputs: dict[str, Any]
    ) -> Route:
        return Route(step.get("next"), dt.datetime.fromisoformat(outputs["until"]))


@register
class Branch(ActionType):
    """config: {"paths": [{"name": "Hot", "groups": [[condition, …]], "next": 4}, …],
    "none_next": 5}. Paths are tried in order; the first whose groups match is taken,
    else "none met" (`none_next`, which may be empty: the run ends)."""

    key = "branch"
    label = gettext_lazy("If/then branch")
    section = "control"
    outputs = (Output("path", gettext_lazy("Path taken")),)
    batchable = True
    raw_config_keys = frozenset({"paths"})
    NONE_MET = "none"

    def token_fields(
        self, config: dict[str, Any], *, definitions: dict[str, PropertyDefinition]
    ) -> dict[str, str]:
        return {}

    def summary(self, config: dict[str, Any], *, canvas: CanvasText) -> str:
        return escape(_("%(count)d paths") % {"count": len(config.get("paths") or []) + 1})

    def describe_inputs(self, config: dict[str, Any], *, account: Account) -> list[tuple[str, str]]:
        """Each path by its name and the step it leads to, then where "none met" goes."""

        def then(step: Any) -> str:
            if step in (None, ""):
                return _("the run ends")
            return _("step %(step)s") % {"step": step}

        paths = [p for p in config.get("paths") or [] if isinstance(p, dict)]
        described = [
            (
                _("Path “%(name)s”") % {"name": path.get("name", "")},
                _("when its conditions are met, then %(next)s") % {"next": then(path.get("next"))},
            )
            for path in paths
        ]
        described.append((_("None met"), then(config.get("none_next"))))
        return described

    def validate_config(
        self, config: dict[str, Any], *, account: Account, object_type: str
    ) -> dict[str, Any]:
        paths = config.get("paths")
        if not isinstance(paths, list) or not paths:
            raise ValidationError(_("A branch needs at least one path."))
        definitions = definitions_for(account, object_type)
        names = set()
        clean_paths = []
        for path in paths:
            name = str(path.get("name") or "").strip()[:100] if isinstance(path, dict) else ""
            if not name or name in names or name == self.NONE_MET:
                raise ValidationError(_("Give each path its own name."))
            names.add(name)
            parse_branch_groups(definitions, path.get("groups"))
            clean_paths.append(
                {"name": name, "groups": path.get("groups") or [], "next": path.get("next")}
            )
        return {"paths": clean_paths, "none_next": config.get("none_next")}

    def execute(self, context: ExecutionContext) -> dict[str, Any]:
        for path in context.raw_config["paths"]:
            groups = parse_branch_groups(context.definitions, path["groups"])
            if branch_matches(
                groups,
                properties=context.record.properties,
                earlier_outputs=context.earlier_outputs,
            ):
                return {"path": path["name"]}
        return {"path": self.NONE_MET}

    def route(
        self, context: ExecutionContext, step: dict[str, Any], outputs: dict[str, Any]
    ) -> Route:
        config = step.get("config") or {}
        for path in config.get("paths", []):
            if path["name"] == outputs.get("path"):
                return Route(path.get("next"))
        return Route(config.get("none_next"))
