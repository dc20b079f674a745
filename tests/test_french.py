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
    known = {  # clashes found when this test was written, to give contexts next
        "To",
        "From",
        "Low",
        "Medium",
        "High",
        "Completed",
        "Change",
        "When",
        "Connected",
        "created at",
        "updated at",
        "when",
        "Failed",
        "Cancelled",
        "Active",
        "Started",
    }
    seen: dict[tuple[str | None, str], tuple[str, str]] = {}
    clashes = []
    for path, entry, texts in translations():
        if entry.msgid_plural:
            continue
        key = (entry.msgctxt, entry.msgid)
        if key in seen and seen[key][1] != texts[0] and entry.msgid not in known:
            clashes.append((entry.msgid, seen[key], (str(path), texts[0])))
        seen.setdefault(key, (str(path), texts[0]))
    assert clashes == []
