"""Forms with a public page: their fields and the submissions visitors send.

A form always asks for the contact's email (the merge key): a submission creates the
contact or updates the one with that email. Answers are kept on the submission as the
visitor typed them, keyed by field, whatever the contact's properties became.
"""

from __future__ import annotations

import builtins
import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Form(models.Model):
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("form name"), max_length=200)
    # The public URL names the form by this random key, never by its id.
    public_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(
        _("title shown to visitors"),
        max_length=200,
        blank=True,
        help_text=_("Leave empty to show the form name."),
    )
    introduction = models.TextField(_("introduction"), blank=True, max_length=2000)
    submit_label = models.CharField(_("submit button label"), max_length=60, default="Submit")
    thank_you_message = models.TextField(
        _("thank-you message"),
        max_length=2000,
        default="Thanks for submitting the form. We will be in touch soon.",
    )
    is_active = models.BooleanField(_("accepting submissions"), default=True)
    # The public page's abuse limits (crm/submissions.py), besides the one per address.
    submissions_per_hour = models.PositiveIntegerField(
        _("submissions accepted per hour"),
        default=100,
        validators=[MinValueValidator(1)],
        help_text=_(
            "From all visitors together. Past it, visitors are asked to come back later: "
            "each submission can start workflows that call OpenAI."
        ),
    )
    proof_of_work = models.BooleanField(
        _("anti-spam puzzle"),
        default=False,
        help_text=_(
            "The visitor’s browser solves a small puzzle (about a second) before the form "
            "is sent, which slows down bots sending many submissions. Needs JavaScript; "
            "no outside service is used."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("form")
        verbose_name_plural = _("forms")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_public_path(self) -> str:
        return reverse("intake:form_public", kwargs={"key": self.public_key})

    @property
    def display_title(self) -> str:
        return self.title or self.name

    def fields_in_order(self) -> list[FormField]:
        """The questions in the order visitors see them, each with its property loaded."""
        return list(self.fields.select_related("property").order_by("position", "id"))


class FormField(models.Model):
    """One question. With a property, the answer is written to the contact too."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="fields")
    # The name of the answer in the submission, the HTML input and the API.
    key = models.SlugField(max_length=100)
    label = models.CharField(_("label"), max_length=200)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    # A contact property (never of another object); None = a free-text question whose
    # answer is kept on the submission only.
    property = models.ForeignKey(
        "crm.PropertyDefinition",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["form", "key"], name="unique_form_field_key")
        ]

    def __str__(self) -> str:
        return self.label

    @builtins.property  # `property` is the field above
    def shown_label(self) -> str:
        """The question as shown: a standard property's own label, kept as created, in
        the page's language; anything the admin typed, as typed."""
        definition = self.property
        if definition is not None and definition.is_standard and self.label == definition.label:
            return gettext(self.label)
        return self.label

    @builtins.property
    def is_email(self) -> bool:
        return self.property is not None and self.property.name == "email"


class FormSubmission(models.Model):
    class Source(models.TextChoices):
        FORM = "form", _("Public page")
        API = "api", _("API")

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="submissions")
    # The contact it created or updated (kept as None if the contact is deleted later).
    record = models.ForeignKey(
        "crm.Record", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What the visitor typed, by field key: {"email": "ana@example.com", "looking_for": "…"}.
    answers = models.JSONField(default=dict)
    created_contact = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=Source, default=Source.FORM)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["form", "-created_at"], name="submission_by_form"),
        ]

    def __str__(self) -> str:
        return f"{self.form} #{self.pk}"
