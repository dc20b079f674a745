"""The forms of evaluations: a new evaluation set (its records picked or read from a
filtered record list's link) and "Evaluate" (one or two versions, or one version with
two models). Expected answers are a table of inputs read by `expected_from_post`."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Account, ObjectType, Record
from marketplace.integrations.openai import evaluations
from marketplace.integrations.openai.models import AssistantVersion, WorkspaceAssistant


class EvaluationSetForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    prompt = forms.CharField(
        label=gettext_lazy("Prompt"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "What is sent for each record, as in an Ask step: {{ object.job_title }} "
            "inserts the record's property."
        ),
    )
    records = forms.MultipleChoiceField(
        label=gettext_lazy("Records"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 12}),
        help_text=gettext_lazy(
            "Pick records (Ctrl or ⌘ for several), or paste a list's link below."
        ),
    )
    filter_link = forms.CharField(
        label=gettext_lazy("Or: the link of a filtered record list"),
        required=False,
        max_length=20_000,
        help_text=gettext_lazy(
            "Filter the record list, copy the address from the browser, paste it here: "
            "its first 500 records are saved in the set."
        ),
    )

    def __init__(self, *args: Any, account: Account, object_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.object_type = object_type
        records = Record.objects.filter(account=account, object_type=object_type).order_by(
            "name", "id"
        )[: evaluations.MAX_RECORDS]
        cast(forms.ChoiceField, self.fields["records"]).choices = [
            (str(r.pk), r.name or f"#{r.pk}") for r in records
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        link = (data.get("filter_link") or "").strip()
        try:
            if link:
                ids = evaluations.records_from_filter(self.account, self.object_type, link)
            else:
                ids = [int(i) for i in data.get("records") or []]
            data["record_ids"] = evaluations.records_check(self.account, self.object_type, ids)
        except ValidationError as error:
            self.add_error("filter_link" if link else "records", error)
        return data


OBJECT_CHOICES = [(t.value, t.plural_label) for t in ObjectType]


class EvaluateForm(forms.Form):
    version_a = forms.TypedChoiceField(label=gettext_lazy("Version"), coerce=int)
    model_a = forms.ChoiceField(label=gettext_lazy("Model"), required=False)
    version_b = forms.TypedChoiceField(
        label=gettext_lazy("Compare with version"), coerce=int, required=False, empty_value=None
    )
    model_b = forms.ChoiceField(label=gettext_lazy("Model"), required=False)
    economy = forms.BooleanField(
        label=gettext_lazy("Economy mode (about half the price, results within 24 hours)"),
        required=False,
        help_text=gettext_lazy(
            "Sent through OpenAI's Batch API (or its Flex tier for the models that have "
            "one) and priced at the batch rate. Requests a batch does not answer are asked "
            "again as ordinary calls."
        ),
    )

    def __init__(
        self, *args: Any, assistant: WorkspaceAssistant, models: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.versions = {v.pk: v for v in assistant.versions.order_by("-number")}
        choices = [(v.pk, f"v{v.number}") for v in self.versions.values()]
        cast(forms.ChoiceField, self.fields["version_a"]).choices = choices
        cast(forms.ChoiceField, self.fields["version_b"]).choices = [("", _("— none —")), *choices]
        model_choices = [("", _("The version's model")), *((m, m) for m in models)]
        cast(forms.ChoiceField, self.fields["model_a"]).choices = model_choices
        cast(forms.ChoiceField, self.fields["model_b"]).choices = model_choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        a, b = data.get("version_a"), data.get("version_b")
        data["version_a"] = self.versions.get(a) if a is not None else None
        data["version_b"] = self.versions.get(b) if b is not None else None
        if (
            data["version_b"] is None
            and not data.get("model_b")
            and "version_b" in self.data
            and self.data.get("compare") == "1"
        ):
            raise ValidationError(
                _("Choose a version to compare with, or another model for the same version.")
            )
        if (
            data["version_b"] is not None
            and data["version_b"] == data["version_a"]
            and (data.get("model_b") or "") == (data.get("model_a") or "")
        ):
            raise ValidationError(
                _("Both sides are the same. Choose another version or another model.")
            )
        return data

    def side_b(self) -> tuple[AssistantVersion | None, str]:
        return self.cleaned_data["version_b"], self.cleaned_data.get("model_b") or ""


def expected_from_post(
    post: QueryDict, record_ids: list[int], fields: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The expected answers typed in the set's table (`exp-<record>-<field>`,
    `op-<record>`, `txt-<record>`), and the errors found (one sentence each)."""
    expected: dict[str, Any] = {}
    errors: list[str] = []
    for record_id in record_ids:
        raw = {
            "fields": {name: post.get(f"exp-{record_id}-{name}", "") for name in fields},
            "text_op": post.get(f"op-{record_id}", "contains"),
            "text": post.get(f"txt-{record_id}", ""),
        }
        try:
            clean = evaluations.expectation_clean(raw, fields)
        except ValidationError as error:
            errors.extend(error.messages)
            continue
        if clean:
            expected[str(record_id)] = clean
    return expected, errors
