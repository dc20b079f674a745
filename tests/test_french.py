"""The French catalogues follow docs/glossary-fr.md: every entry translated, French
typography (non-breaking space before ; : ! ? and inside « », typographic apostrophes)
and no "(e)" placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted(
    p
    for p in ROOT.glob("**/locale/fr/LC_MESSAGES/django.po")
    if ".venv" not in p.parts and "node_modules" not in p.parts
)
NBSP = "\u00a0"


def translations():
    for path in CATALOGUES:
        for entry in polib.pofile(str(path)):
            if entry.obsolete or not entry.msgid:
                continue
            texts = [entry.msgstr] if entry.msgstr else list(entry.msgstr_plural.values())
            yield path.relative_to(ROOT), entry, texts


def test_there_are_catalogues_to_check():
    assert len(CATALOGUES) >= 4


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_entry_is_translated(path):
    untranslated = [
        e.msgid
        for e in polib.pofile(str(path))
        if not e.obsolete and e.msgid and (not e.translated() or "fuzzy" in e.flags)
    ]
    assert untranslated == []


def test_french_typography():
    problems = []
    for path, entry, texts in translations():
        for text in texts:
            if re.search(r"[A-Za-zÀ-ÿ]'[A-Za-zÀ-ÿ]", text):
                problems.append((str(path), entry.msgid, "straight apostrophe"))
            if re.search(r"[ \u202f][;:!?]", text) or re.search(r"[\wÀ-ÿ»)][;!?](\s|$)", text):
                problems.append((str(path), entry.msgid, "no non-breaking space before ; : ! ?"))
            if re.search(r"[A-Za-zÀ-ÿ»)]:(\s|$)", text) and "Authorization:" not in text:
                problems.append((str(path), entry.msgid, "no non-breaking space before :"))
            if re.search(r"«(?!\u00a0)|(?<!\u00a0)»", text):
                problems.append((str(path), entry.msgid, "no non-breaking space inside « »"))
            if re.search(r"[a-zé]\((e|s|es)\)", text):
                problems.append((str(path), entry.msgid, "(e)/(s) placeholder"))
    assert problems == []


def test_a_source_string_means_one_thing_across_catalogues():
    """Django looks a string up in the apps' catalogues in INSTALLED_APPS order: the same
    msgid translated differently by two apps shows the first app's everywhere ("On" of
    the audit log's column, "Sur", on every workflow's status). A string that means two
    things carries a context (pgettext, {% translate … context … %})."""
    seen: dict[tuple[str | None, str], tuple[str, str]] = {}
    clashes = []
    for path, entry, texts in translations():
        if entry.msgid_plural:
            continue
        key = (entry.msgctxt, entry.msgid)
        if key in seen and seen[key][1] != texts[0]:
            clashes.append((entry.msgid, seen[key], (str(path), texts[0])))
        seen.setdefault(key, (str(path), texts[0]))
    assert clashes == []


def test_each_meaning_reads_its_own_french():
    """The strings that clashed, each meaning as Django resolves it across every app's
    catalogue (the first app's translation wins for a string without context)."""
    from django.utils import translation
    from django.utils.translation import gettext, pgettext

    from crm.models import Task
    from crm.views.audit_log import AuditFilterForm
    from marketplace.integrations.openai.models import EconomyBatch, ReasoningEffort
    from marketplace.models import AppLogEntry, Connection, ConnectionStatus
    from workflows.models import Enrollment

    with translation.override("fr"):
        seen = {
            # A lead status (standard property options are translated when shown) and
            # an app's connection status.
            "lead status Connected": gettext("Connected"),
            "app Connected": str(ConnectionStatus.CONNECTED.label),
            "task priority Low": str(Task.Priority.LOW.label),
            "reasoning effort Low": str(ReasoningEffort.LOW.label),
            "reasoning effort High": str(ReasoningEffort.HIGH.label),
            "task Completed": str(Task.Status.COMPLETED.label),
            "batch Completed": str(EconomyBatch.Status.COMPLETED.label),
            "batch Cancelled": str(EconomyBatch.Status.CANCELLED.label),
            "enrollment Active": str(Enrollment.Status.ACTIVE.label),
            "token Active": gettext("Active"),
            "audit From": str(AuditFilterForm.base_fields["since"].label),
            "history From": pgettext("date range", "From"),
            "email From": gettext("From"),
            "condition To": gettext("To"),
            "import Started": pgettext("import: started at", "Started"),
            "run Started": gettext("Started"),
            "language Change": gettext("Change"),
            "diff Change": pgettext("version diff column", "Change"),
            "app log When": pgettext("date column", "When"),
            "audit When": gettext("When"),
            "connection created at": str(Connection._meta.get_field("created_at").verbose_name),
            "app log when": str(AppLogEntry._meta.get_field("created_at").verbose_name),
        }
    assert seen == {
        "lead status Connected": "Contact établi",
        "app Connected": "Connectée",
        "task priority Low": "Basse",
        "reasoning effort Low": "Faible",
        "reasoning effort High": "Élevé",
        "task Completed": "Terminée",
        "batch Completed": "Terminé",
        "batch Cancelled": "Annulé",
        "enrollment Active": "Active",
        "token Active": "Actif",
        "audit From": "Du",
        "history From": "Du",
        "email From": "De",
        "condition To": "À",
        "import Started": "Lancée le",
        "run Started": "Début",
        "language Change": "Changer",
        "diff Change": "Changement",
        "app log When": "Date",
        "audit When": "Quand",
        "connection created at": "créée le",
        "app log when": "date",
    }
