"""Every page a user sees reads like the product, in English and in French: walking the
seed's pages (records, tasks, notifications, settings, marketplace) and the use cases'
workflows (the three templates' canvases and reviews, a run's history and timeline),
the visible text holds no raw internal code — no snake_case keys, no ids in JSON, no
Python reprs — and the French pages hold no English sentence of the catalogues."""

from __future__ import annotations

import html
import re
from pathlib import Path

import polib
import pytest
from django.urls import reverse
from django.utils import translation

from crm import activities
from crm.demo import demo_records_create
from crm.models import Notification, Record, Task
from crm.webforms import form_create
from tests.history.scenarios import owner_handover
from tests.workflows.conftest import chain, contact, drain, make_workflow
from workflows import registry
from workflows.builder.templates import template_create
from workflows.models import Enrollment, Workflow

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

# Visible text: what is between tags, plus the attributes a person reads or hears.
_HIDDEN = re.compile(r"<(script|style|template)\b.*?</\1>", re.S | re.I)
_ATTRS = re.compile(r'\b(?:aria-label|placeholder|title|alt)="([^"]*)"')
_TAG = re.compile(r"<[^>]+>")

RAW_CODES = {
    "snake_case key": re.compile(r"(?<![\w./@{-])[a-z]+(?:_[a-z0-9]+)+(?![\w.@}(/-])"),
    "JSON key": re.compile(r'[{,]\s*"[A-Za-z_]+"\s*:'),
    "Python repr": re.compile(
        r"<[A-Z]\w+: |\{'|\['|[:=(\[,]\s*None\b|\bNone\s*[,)\]]|\[object Object\]|Object Object"
    ),
    "(e) placeholder": re.compile(r"\w\((?:e|s|es)\)"),
}
# Pages that show internal names on purpose (an admin's property settings list the
# internal name a token or the API uses).
RAW_ALLOWED = {"/settings/properties/"}


def visible_text(page: str) -> str:
    page = _HIDDEN.sub(" ", page)
    said = " ".join(_ATTRS.findall(page))
    body = page.split("<body", 1)[-1]
    text = _TAG.sub(" ", body) + " " + said
    return " ".join(html.unescape(text).split())


def raw_codes(text: str) -> list[str]:
    return [
        f"{kind}: …{text[max(0, m.start() - 40) : m.end() + 40]}…"
        for kind, rx in RAW_CODES.items()
        for m in rx.finditer(text)
    ]


def english_sentences() -> set[str]:
    """The catalogues' source sentences (three words or more) whose French differs: one
    of them on a French page is a string left untranslated."""
    found = set()
    for path in ROOT.glob("**/locale/fr/LC_MESSAGES/django.po"):
        if ".venv" in path.parts:
            continue
        for entry in polib.pofile(str(path)):
            msgid = entry.msgid
            if entry.obsolete or "%" in msgid or "{" in msgid or "<" in msgid:
                continue
            if len(msgid.split()) >= 3 and entry.msgstr and entry.msgstr != msgid:
                found.add(msgid)
    return found


@pytest.fixture
def language():
    return "en"


@pytest.fixture
def seed(acme, admin_user, rep_user, builder_user, language):
    """The seed's kinds of data: demo records, a form, the three use cases' workflows
    (drafts from their templates, made in the walk's language as a user of that
    language makes them), a run that created a task and one that failed."""
    demo_records_create(acme, contacts=12, companies=4)
    form = form_create(account=acme, name="Contact us")
    for template in registry.templates():
        with translation.override(language):
            made = template_create(account=acme, key=template.key, actor=builder_user)
        if "form" in str(template.name).lower() or "visitor" in str(template.name).lower():
            Workflow.objects.filter(pk=made.pk).update(form_id=form.pk)
    scenario = owner_handover(acme)
    runs = make_workflow(
        acme,
        chain(
            {
                "type": "branch",
                "config": {"paths": [{"name": "HOT", "groups": [], "next": 2}], "none_next": 2},
            },
            {
                "type": "create_task",
                "config": {"title": "Call {{ object.first_name }}", "assignee": "owner"},
            },
            {
                "type": "send_notification",
                "config": {"recipients": ["owner", rep_user.pk], "subject": "Hot lead"},
            },
            {"type": "set_property", "config": {"property": "lead_status", "value": "unqualified"}},
        ),
    )
    ann = contact(acme, first_name="Ann", last_name="Lee", owner=rep_user.pk)
    drain()
    activities.task_create(
        account=acme, actor=admin_user, title="Send the quote", record=ann, assignee=rep_user
    )
    return {"scenario": scenario, "runs": runs, "ann": ann, "form": form}


def seed_pages(seed) -> list[str]:
    ann: Record = seed["ann"]
    runs: Workflow = seed["runs"]
    enrollment = Enrollment.objects.get(workflow=runs)
    pages = [
        "/objects/contacts/",
        "/objects/companies/",
        f"/objects/contacts/{ann.pk}/",
        f"/objects/contacts/{seed['scenario'].record.pk}/",
        "/tasks/?view=all",
        "/notifications/",
        "/settings/",
        "/settings/users/",
        "/settings/properties/",
        "/settings/forms/",
        f"/settings/forms/{seed['form'].pk}/",
        "/settings/import/",
        "/marketplace/",
        "/workflows/",
        reverse("history:logs", args=[runs.pk]),
        reverse("history:run", args=[runs.pk, enrollment.pk]),
    ]
    pages += [f"/tasks/{pk}/" for pk in Task.objects.values_list("pk", flat=True)[:3]]
    for workflow in Workflow.objects.all():
        pages += [f"/workflows/{workflow.pk}/", f"/workflows/{workflow.pk}/review/"]
    return pages


def walk(client, pages, language):
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200, url
        yield url, visible_text(response.content.decode())


@pytest.mark.parametrize("language", ["en", "fr"])
def test_no_page_shows_a_raw_internal_code(seed, admin_client, language):
    assert Notification.objects.exists() and Task.objects.count() >= 2
    found = {
        url: codes
        for url, text in walk(admin_client, seed_pages(seed), language)
        if url not in RAW_ALLOWED and (codes := raw_codes(text))
    }
    assert found == {}


@pytest.mark.parametrize("language", ["fr"])
def test_french_pages_hold_no_english_sentence_of_the_catalogues(seed, admin_client, language):
    english = english_sentences()
    found = {}
    for url, text in walk(admin_client, seed_pages(seed), "fr"):
        left = sorted(sentence for sentence in english if sentence in text)
        if left:
            found[url] = left
    assert found == {}


def test_no_template_comment_spans_lines():
    """Django's {# … #} comment ends at its line: one spread over two lines is printed
    on the page (base.html's once showed above every page's header)."""
    unclosed = []
    for path in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\{#(?!.*#\})", line):
                unclosed.append(f"{path.relative_to(ROOT)}:{number}")
    assert unclosed == []
