"""Stored values as people read them: the one place a page turns what the database
holds (an option value, a user id or "owner", a record or task id, a timeline entry's
data) into a label, a name or a link.

What must stay true: nothing a page shows comes from here as an internal code — a
value the labels no longer know reads as itself (an option removed since), a removed
user as "a removed user", never as an id. The timeline of another app's entries (e.g.
workflow runs) is described by that app through `timeline_describer_register`, and the
pages its links open (a notification's) through `link_describer_register`; crm knows
no app by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import Resolver404, resolve, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import properties as props
from crm.models import Account, Notification, PropertyDefinition, Record, Task, TimelineEvent

# The stored choice "the record's owner" in a user field of a workflow action.
OWNER = "owner"

# Where a change came from (TimelineEvent.source), as the timeline says it.
SOURCES: dict[str, Any] = {
    "api": gettext_lazy("via the API"),
    "form": gettext_lazy("from a form"),
    "import": gettext_lazy("from an import"),
    "workflow": gettext_lazy("by a workflow"),
}


def user_label(value: Any, users: dict[Any, Any]) -> str:
    """A stored user choice — "owner", or a user id — as a name; `users` by id (int or
    str keys)."""
    if str(value) == OWNER:
        return _("Record owner")
    user = users.get(value)
    if user is None:
        with contextlib.suppress(TypeError, ValueError):
            user = users.get(int(value)) or users.get(str(value))
    return str(user) if user is not None else _("a removed user")


def users_label(values: Any, users: dict[Any, Any]) -> str:
    """A list of stored user choices as names, comma-separated."""
    if not isinstance(values, list):
        values = [values]
    return ", ".join(user_label(value, users) for value in values)


def value_label(
    definition: PropertyDefinition | None, value: Any, *, users: dict[Any, Any] | None = None
) -> str:
    """A property's stored value as the record page shows it ("" for none)."""
    if value is None:
        return ""
    if definition is None:
        return str(value)
    try:
        return props.display(definition, value, users=users)
    except (ValueError, TypeError):
        return str(value)


def task_url(task_id: Any) -> str:
    return reverse("crm:task_detail", args=[int(task_id)])


def task_link(task_id: Any, title: str) -> SafeString:
    return format_html('<a href="{}">{}</a>', task_url(task_id), title)


# --- The record timeline ----------------------------------------------------------


@dataclass
class TimelineEntry:
    """One timeline entry as shown: its title (safe HTML), its details as (label, text)
    pairs, and a link (text, url) to where it happened."""

    title: SafeString
    details: list[tuple[str, str]] = field(default_factory=list)
    link: tuple[str, str] | None = None


_describers: dict[str, Callable[[dict[str, Any]], TimelineEntry]] = {}


def timeline_describer_register(kind: str, describe: Callable[[dict[str, Any]], TimelineEntry]):
    """How entries of `kind` read; called from the owning app's AppConfig.ready()."""
    _describers[kind] = describe


def timeline_entry(
    event: TimelineEvent, *, definitions: dict[str, PropertyDefinition], users: dict
) -> TimelineEntry:
    data = event.data if isinstance(event.data, dict) else {}
    kind = event.kind
    Kind = TimelineEvent.Kind
    if kind == Kind.CREATED:
        return TimelineEntry(format_html("{}", _("Record created")))
    if kind == Kind.PROPERTY_CHANGED:
        definition = definitions.get(data.get("property"))
        label = (
            property_label(definition)
            if definition is not None
            else str(data.get("label") or data.get("property") or "")
        )
        old = value_label(definition, data.get("old"), users=users)
        new = value_label(definition, data.get("new"), users=users)
        return TimelineEntry(
            format_html(
                _("{label} changed: {old} → {new}"),
                label=format_html("<strong>{}</strong>", label),
                old=format_html('<span class="old-value">{}</span>', old or "--"),
                new=format_html('<span class="new-value">{}</span>', new or "--"),
            )
        )
    if kind == Kind.TASK:
        title = str(data.get("title") or "")
        shown = task_link(data["task_id"], title) if data.get("task_id") else title
        return TimelineEntry(format_html(_("<strong>Task created:</strong> {title}"), title=shown))
    if kind == Kind.FORM_SUBMITTED:
        name = str(data.get("form_name") or data.get("form") or "")
        answers = [
            (str(a.get("label", "")), str(a.get("value", "")))
            for a in data.get("answers") or []
            if isinstance(a, dict) and a.get("value") not in (None, "")
        ]
        return TimelineEntry(
            format_html(_("<strong>Form submitted:</strong> {form}"), form=name), answers
        )
    describe = _describers.get(kind)
    if describe is not None:
        with contextlib.suppress(Exception):
            return describe(data)
    title = str(data.get("title") or data.get("summary") or data.get("workflow") or "")
    if title:
        return TimelineEntry(
            format_html(
                _("<strong>{kind}:</strong> {title}"), kind=event.get_kind_display(), title=title
            )
        )
    return TimelineEntry(format_html("<strong>{}</strong>", event.get_kind_display()))


def property_label(definition: PropertyDefinition | None) -> str:
    """Standard labels are translated; custom labels are shown as the admin typed them."""
    if definition is None:
        return ""
    return _(definition.label) if definition.is_standard else definition.label


def source_label(source: str) -> str:
    """ "by a workflow", "via the API"…; nothing for a change made in the app."""
    label = SOURCES.get(source)
    return str(label) if label is not None else ""


# --- Where a link goes, named (notifications) ---------------------------------------

LinkDescriber = Callable[[dict[str, Any], Account], str]
_link_describers: dict[str, LinkDescriber] = {}


def link_describer_register(view_name: str, describe: LinkDescriber) -> None:
    """How a page of `view_name` ("app:url_name") is named in a link: describe(url
    kwargs, account) → "Contact: Ann Lee". Called from the owning app's ready()."""
    _link_describers[view_name] = describe


def link_label(path: str, *, account: Account) -> str:
    """The name of what a local path opens ("" when no app names it, or it is gone)."""
    try:
        match = resolve(path.split("?", 1)[0])
    except Resolver404:
        return ""
    describe = _link_describers.get(match.view_name)
    if describe is None:
        return ""
    try:
        return describe(match.kwargs, account) or ""
    except Exception:  # noqa: BLE001 — a removed object, a malformed id: no name, no error
        return ""


def _record_link(kwargs: dict[str, Any], account: Account) -> str:
    record = Record.objects.filter(account=account, pk=kwargs["pk"]).first()
    if record is None:
        return ""
    return _("%(object)s: %(name)s") % {"object": record.get_object_type_display(), "name": record}


def _task_link(kwargs: dict[str, Any], account: Account) -> str:
    title = Task.objects.filter(account=account, pk=kwargs["pk"]).values_list("title", flat=True)
    return _("Task: %(title)s") % {"title": title[0]} if title else ""


link_describer_register("crm:record_detail", _record_link)
link_describer_register("crm:task_detail", _task_link)


@dataclass
class NotificationEntry:
    """One notification as the inbox shows it: what it says, and where it leads, named."""

    notification: Notification
    link: str  # e.g. "Contact: Ann Lee"; "" when it leads nowhere nameable


def notification_entries(notifications, *, account: Account) -> list[NotificationEntry]:
    return [
        NotificationEntry(n, link_label(n.url, account=account) if n.url else "")
        for n in notifications
    ]
