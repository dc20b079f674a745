"""The Content-Security-Policy: every page sends it, no template needs it relaxed, and the
browser tests' watch (tests/accessibility.py) does catch a violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.accessibility import close_checked, csp_watched_context
from tests.conftest import BASE_DIR, log_in

TEMPLATE_DIRS = [
    path
    for path in BASE_DIR.glob("**/templates")
    if ".venv" not in path.parts and "node_modules" not in path.parts
]
# What the policy refuses in a template: an inline event handler (onclick=), an inline
# script (<script> without src), htmx's hx-on (eval), a javascript: URL, a style attribute.
FORBIDDEN = {
    "inline event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>"),
    "hx-on": re.compile(r"\shx-on"),
    "javascript: URL": re.compile(r"=\s*[\"']?\s*javascript:", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
}


def _templates() -> list[Path]:
    return sorted(path for folder in TEMPLATE_DIRS for path in folder.glob("**/*.html"))


def test_no_template_holds_what_the_policy_refuses():
    assert len(_templates()) > 50  # the glob found the project's templates
    found = [
        f"{path.relative_to(BASE_DIR)}:{text[: match.start()].count(chr(10)) + 1}: {what}"
        for path in _templates()
        for text in [path.read_text()]
        for what, pattern in FORBIDDEN.items()
        for match in pattern.finditer(text)
    ]
    assert found == []


def test_the_template_check_finds_an_inline_handler():
    assert FORBIDDEN["inline event handler"].search('<select onchange="go()">')
    assert FORBIDDEN["inline script"].search("<script>alert(1)</script>")
    assert not FORBIDDEN["inline script"].search('<script src="/static/js/crmflow.js" defer>')
    assert FORBIDDEN["javascript: URL"].search('<a href="javascript:go()">')
    assert not FORBIDDEN["javascript: URL"].search("<p>This form needs JavaScript: yes</p>")


@pytest.mark.django_db
def test_every_page_sends_a_policy_without_inline_scripts_or_eval(client, admin_client):
    for response in (client.get("/login/"), admin_client.get("/")):
        policy = response.headers["Content-Security-Policy"]
        directives = dict(
            (part.split(" ", 1) + [""])[:2] for part in policy.split("; ") if part.strip()
        )
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy


@pytest.mark.django_db
def test_htmx_is_configured_without_eval(admin_client):
    html = admin_client.get("/", follow=True).content.decode()
    assert '"allowEval": false' in html
    assert '"includeIndicatorStyles": false' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_browser_watch_reports_an_inline_handler(browser, live_server, admin_user):
    context = csp_watched_context(browser, base_url=live_server.url, locale="en-US")
    page = context.new_page()
    log_in(page, "admin")
    # What a template with onclick= would do: the policy blocks it and the watch hears it.
    page.evaluate(
        """document.body.insertAdjacentHTML(
            "beforeend", '<img alt="" src="/static/none.png" onerror="window.ran = 1">')"""
    )
    page.wait_for_timeout(500)
    assert page.evaluate("window.ran") is None
    with pytest.raises(AssertionError, match="script-src-attr blocked inline"):
        close_checked(context)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_language_menu_and_its_select_work_under_the_policy(page, rep_user):
    log_in(page, "rep")
    page.locator("summary.user-menu").click()
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("link", name="Paramètres").wait_for()
