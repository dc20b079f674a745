"""CRM objects: typed property definitions, records, their values, associations, timeline.

How values are stored (see docs/crm-storage.md): each record keeps its normalised
values in one JSON column (`Record.properties`, the truth, read in one row), and every
value is mirrored into a typed index row (`PropertyValue`) whose composite indexes
make filtering and sorting by *any* property — standard or custom — an index range
scan on PostgreSQL and SQLite alike. Both are written by `crm.services` in one
transaction; nothing else writes them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# What an AI app is sent instead of a sensitive property's value (Settings › AI data).
WITHHELD = "[withheld]"


class ObjectType(models.TextChoices):
    CONTACT = "contact", _("Contact")
    COMPANY = "company", _("Company")
    DEAL = "deal", _("Deal")
    TICKET = "ticket", _("Ticket")

    @property
    def slug(self) -> str:
        """The plural used in URLs: /objects/contacts/."""
        return OBJECT_SLUGS[self]

    @property
    def plural_label(self) -> str:
        """The plural people read: "Contacts"."""
        return str(OBJECT_PLURALS[self])

    @classmethod
    def from_slug(cls, slug: str) -> ObjectType | None:
        return {value: key for key, value in OBJECT_SLUGS.items()}.get(slug)


OBJECT_SLUGS = {
    ObjectType.CONTACT: "contacts",
    ObjectType.COMPANY: "companies",
    ObjectType.DEAL: "deals",
    ObjectType.TICKET: "tickets",
}
OBJECT_PLURALS = {
    ObjectType.CONTACT: _("Contacts"),
    ObjectType.COMPANY: _("Companies"),
    ObjectType.DEAL: _("Deals"),
    ObjectType.TICKET: _("Tickets"),
}

# "Create contact", "Créer un contact": one sentence per object (French needs its gender).
OBJECT_CREATE_LABELS = {
    ObjectType.CONTACT: _("Create contact"),
    ObjectType.COMPANY: _("Create company"),
    ObjectType.DEAL: _("Create deal"),
    ObjectType.TICKET: _("Create ticket"),
}


class PropertyType(models.TextChoices):
    TEXT = "text", _("Single-line text")
    TEXTAREA = "textarea", _("Multi-line text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    BOOLEAN = "boolean", _("Boolean")
    ENUMERATION = "enumeration", _("Dropdown select")
    OWNER = "owner", _("Owner (user)")


class PropertyDefinition(models.Model):
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(_("object"), max_length=10, choices=ObjectType)
    name = models.SlugField(_("internal name"), max_length=100)
    label = models.CharField(_("label"), max_length=200)
    type = models.CharField(_("field type"), max_length=12, choices=PropertyType)
    # Enumeration options: [{"value": "lead", "label": "Lead"}, ...] in display order.
    options = models.JSONField(_("options"), default=list, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    is_standard = models.BooleanField(_("standard property"), default=False)
    # Never sent to AI apps (Settings › AI data): a token or a tool that would send it
    # sends "[withheld]" instead.
    sensitive = models.BooleanField(_("sensitive (never sent to AI)"), default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("property")
        verbose_name_plural = _("properties")
        ordering = ["position", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "object_type", "name"], name="unique_property_name"
            )
        ]

    def __str__(self) -> str:
        return self.label

    def option_label(self, value: str) -> str:
        """A stored option value as the UI shows it (the value itself when the options
        no longer hold it)."""
        for option in self.options:
            if option["value"] == value:
                return self._shown(option["label"])
        return value

    @property
    def shown_options(self) -> list[dict[str, str]]:
        """The options with their labels as the UI shows them: a standard property's
        labels are translated (crm/standard_properties.py marks them), an admin's as typed."""
        return [{"value": o["value"], "label": self._shown(o["label"])} for o in self.options]

    def _shown(self, label: str) -> str:
        return gettext(label) if self.is_standard else label


class LiveRecordManager(models.Manager["Record"]):
    """Records not deleted: every list, search, API answer and enrollment reads these.
    A deleted record stays reachable through a foreign key (Django's base manager),
    and through `Record.all_objects` (restore, purge)."""

    def get_queryset(self) -> models.QuerySet[Record]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Record(models.Model):
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(_("object"), max_length=10, choices=ObjectType)
    # Normalised values keyed by property name: str, number (as a decimal string),
    # ISO date/datetime strings, bool, owner user id. See crm.properties.
    properties = models.JSONField(default=dict)
    # Denormalised for lists and search: the record's display name, lowercased
    # email/domain (merge key for forms and imports), and its owner.
    name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Deletes are soft (crm/deletion.py): hidden everywhere at once, restorable for
    # DELETED_KEPT_DAYS, then purged by a periodic job.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    all_objects = models.Manager()
    objects = LiveRecordManager()

    class Meta:
        # Not the first manager declared: said here, so that the admin, forms and
        # get_object_or_404 see live records only.
        default_manager_name = "objects"
        indexes = [
            models.Index(fields=["deleted_at"], name="record_deleted"),
            models.Index(fields=["account", "object_type", "id"], name="record_list"),
            models.Index(fields=["account", "object_type", "email"], name="record_email"),
            models.Index(fields=["account", "object_type", "name"], name="record_name"),
            models.Index(fields=["account", "object_type", "owner"], name="record_owner"),
        ]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    @property
    def slug(self) -> str:
        return OBJECT_SLUGS[ObjectType(self.object_type)]


class PropertyValue(models.Model):
    """A typed, indexable copy of one property value of one record.

    Exactly one of the value columns is set, chosen by the property's type:
    text/textarea/enumeration/boolean → `text_value` (lowercased, first 255 chars);
    number/owner → `number_value`; date/datetime → `datetime_value` (dates at 00:00 UTC).
    """

    # No index of their own: `one_value_per_property` leads with the record and the value
    # indexes with the property, so they serve those lookups; two fewer index rows
    # written per value.
    record = models.ForeignKey(
        Record, on_delete=models.CASCADE, related_name="values", db_index=False
    )
    property = models.ForeignKey(
        PropertyDefinition, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # NULL (not "") when the value is of another type: the indexes skip it then.
    text_value = models.CharField(max_length=255, null=True)  # noqa: DJ001
    number_value = models.FloatField(null=True)
    datetime_value = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "property"], name="one_value_per_property")
        ]
        indexes = [
            models.Index(fields=["property", "text_value", "record"], name="value_text"),
            models.Index(fields=["property", "number_value", "record"], name="value_number"),
            models.Index(fields=["property", "datetime_value", "record"], name="value_datetime"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}.{self.property_id}"


class Association(models.Model):
    """A link between two records, stored in both directions (one row each way)."""

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    from_record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    to_record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_record", "to_record"], name="unique_association")
        ]

    def __str__(self) -> str:
        return f"{self.from_record_id} → {self.to_record_id}"


class TimelineEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", _("Record created")
        PROPERTY_CHANGED = "property_changed", _("Property changed")
        NOTE = "note", _("Note")
        TASK = "task", _("Task")
        FORM_SUBMITTED = "form_submitted", _("Form submitted")
        WORKFLOW = "workflow", _("Workflow")

    # Indexes: only the ones something reads (Meta): workflows write two entries per step.
    # No foreign key constraints either: their deferred checks cost PostgreSQL ~17 µs per
    # entry at commit (measured over 100,000 inserts), two entries per workflow step.
    # Entries are written for a record just read, and deleting a record or an account
    # deletes its entries (Django's on_delete, crm.deletion).
    account = models.ForeignKey(
        "crm.Account", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    record = models.ForeignKey(
        Record,
        on_delete=models.CASCADE,
        related_name="timeline",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=20, choices=Kind)
    # What happened, for display: e.g. {"property": "email", "old": ..., "new": ...}.
    data = models.JSONField(default=dict)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # Where the change came from: ui, api, form, import, workflow.
    source = models.CharField(max_length=20, blank=True)
    # Makes a side effect written by a workflow action idempotent (the execution id).
    # NULL, not "": rows without a key must not collide under the unique constraint.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["record", "-created_at"], name="timeline_by_record"),
            # For a user's deletion (SET_NULL); workflow entries have no actor.
            models.Index(
                fields=["actor"], condition=Q(actor__isnull=False), name="timeline_by_actor"
            ),
        ]
        constraints = [
            # A constraint rather than unique=True: no second (pattern) index on PostgreSQL.
            models.UniqueConstraint(fields=["idempotency_key"], name="timeline_idempotency_key"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.record_id}"
