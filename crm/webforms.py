"""Building web forms (Settings > Forms): the questions a form asks and where answers go.

What must stay true: every form asks for the email, required, because a submission
finds its contact by it (`crm.submissions`); that question can be neither removed nor
made optional. A question saved to a contact property uses the property's name as its
key, so a form asks for each property at most once.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from crm import services
from crm.models import Account, Form, FormField, ObjectType, PropertyDefinition, PropertyType, User

# Owner ids mean nothing to visitors: that type is never offered on a public form.
FORM_PROPERTY_TYPES = [t for t in PropertyType if t != PropertyType.OWNER]
# Where a free-text question's answer goes (the other questions name a contact property):
# a new multi-line contact property made from the label, or the submission only.
NEW_PROPERTY = "__new__"
FREE_TEXT = "__free__"


@transaction.atomic
def form_create(*, account: Account, name: str, created_by: User | None = None) -> Form:
    """A new form, already asking for the email (the contact's merge key)."""
    form = Form.objects.create(account=account, name=name, created_by=created_by)
    email = PropertyDefinition.objects.get(
        account=account, object_type=ObjectType.CONTACT, name="email"
    )
    FormField.objects.create(
        form=form, key="email", label=_("Email"), property=email, required=True, position=0
    )
    return form


def properties_offered(*, form: Form, fields: list[FormField]) -> list[PropertyDefinition]:
    """The contact properties the form does not ask for yet, standard ones first."""
    used = {field.property_id for field in fields if field.property_id}
    offered = [
        definition
        for definition in services.definitions_for(form.account, ObjectType.CONTACT).values()
        if definition.type in FORM_PROPERTY_TYPES and definition.pk not in used
    ]
    offered.sort(key=lambda d: (not d.is_standard, d.position, d.label))
    return offered


@transaction.atomic
def form_field_add(
    *, form: Form, source: PropertyDefinition | str, label: str, required: bool
) -> FormField:
    """Add a question at the end of the form.

    `source` is a contact property, NEW_PROPERTY or FREE_TEXT; a free-text question
    needs a `label`, a property question falls back to the property's label.
    Raises ValidationError if the form already asks it.
    """
    fields = form.fields_in_order()
    position = max((field.position for field in fields), default=-1) + 1
    keys = {field.key for field in fields}
    definition: PropertyDefinition | None
    if isinstance(source, PropertyDefinition):
        definition = source
    elif source == NEW_PROPERTY:
        definition = _textarea_property_for(account=form.account, label=label)
    elif source == FREE_TEXT:
        definition = None
    else:
        raise ValueError(f"Unknown question source {source!r}")
    label = label or (definition.label if definition else "")
    key = definition.name if definition else _free_key(label, keys)
    if key in keys:
        raise ValidationError(_("This form already asks for “%(label)s”.") % {"label": label})
    return FormField.objects.create(
        form=form,
        key=key,
        label=label,
        property=definition,
        required=required,
        position=position,
    )


def form_field_remove(*, field: FormField) -> None:
    """Remove a question; raises ValidationError for the email question."""
    if field.is_email:
        raise ValidationError(_("The email question is required: contacts are matched by email."))
    field.delete()


def form_field_required_toggle(*, field: FormField) -> None:
    """Make a question optional or required; the email question stays required."""
    if field.is_email:
        return
    field.required = not field.required
    field.save(update_fields=["required"])


@transaction.atomic
def form_field_move(*, field: FormField, step: int) -> None:
    """Move a question `step` places (-1 up, 1 down); at either end it stays."""
    fields = list(FormField.objects.filter(form_id=field.form_id).order_by("position", "id"))
    index = fields.index(field)
    other = index + step
    if 0 <= other < len(fields):
        fields[index], fields[other] = fields[other], fields[index]
        for position, item in enumerate(fields):
            item.position = position
        FormField.objects.bulk_update(fields, ["position"])


def _free_key(label: str, taken: set[str]) -> str:
    base = slugify(label).replace("-", "_")[:80] or "question"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _textarea_property_for(*, account: Account, label: str) -> PropertyDefinition:
    """The multi-line contact property for a free-text question, created if needed."""
    name = slugify(label).replace("-", "_")[:80] or "question"
    existing = PropertyDefinition.objects.filter(
        account=account, object_type=ObjectType.CONTACT, name=name
    ).first()
    if existing is not None:
        if existing.type != PropertyType.TEXTAREA:
            raise ValidationError(
                _(
                    "A contact property “%(name)s” already exists and is not multi-line text. "
                    "Pick it from the list instead."
                )
                % {"name": existing.label}
            )
        return existing
    return PropertyDefinition.objects.create(
        account=account,
        object_type=ObjectType.CONTACT,
        name=name,
        label=label[:200],
        type=PropertyType.TEXTAREA,
        position=1000,
        description=_("Created for a form question."),
    )
