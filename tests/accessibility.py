"""axe-core in every browser test: each page a test visits is audited when it loads and
after each htmx swap, and the test fails on a serious or critical violation.

The Content-Security-Policy too: every page of every browser context the tests open
(through `audited_context` or `csp_watched_context`) reports its `securitypolicyviolation`
events, and the test fails on any (an inline script or handler, an inline style, an eval).

axe-core is vendored from its npm package (static/vendor/axe-core-<version>/, see
static/vendor/README.md). The audit runs inside the page (an init script of the browser
context) and reports through a binding, so a test's own steps are not interleaved with
audit calls; `AxeAudit.check()` (called when the context closes) raises on what was found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

AXE_VERSION = "4.14.1"
AXE_JS = (
    Path(__file__).resolve().parent.parent
    / "static"
    / "vendor"
    / f"axe-core-{AXE_VERSION}"
    / "axe.min.js"
)
FAILING_IMPACTS = ("serious", "critical")

# Runs in every page: audit after load and after htmx settles (debounced), report each
# violation once per page through window.__axeReport.
_RUNNER = """
(() => {
  if (window.top !== window) return;
  let timer = null, running = false, again = false;
  const seen = new Set();
  const audit = () => {
    if (running) { again = true; return; }
    running = true;
    window.axe.run(document, {resultTypes: ["violations"]}).then((results) => {
      const found = [];
      for (const v of results.violations) {
        if (!IMPACTS.includes(v.impact)) continue;
        const targets = v.nodes.map((n) => n.target.join(" ")).slice(0, 5);
        const key = v.id + "|" + targets.join(",");
        if (seen.has(key)) continue;
        seen.add(key);
        found.push({id: v.id, impact: v.impact, help: v.help, targets: targets,
                    html: v.nodes.slice(0, 2).map((n) => n.html.slice(0, 160))});
      }
      if (found.length) window.__axeReport(location.pathname, JSON.stringify(found));
    }).catch(() => {}).finally(() => {
      running = false;
      if (again) { again = false; schedule(); }
    });
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(audit, 150); };
  window.addEventListener("load", schedule);
  document.addEventListener("htmx:afterSettle", schedule);
  document.addEventListener("toggle", schedule, true);
})();
""".replace("IMPACTS", json.dumps(list(FAILING_IMPACTS)))


# Runs in every page and frame: each CSP violation is reported through window.__cspReport.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspReport(location.pathname, JSON.stringify({
    directive: event.effectiveDirective, blocked: event.blockedURI,
    source: event.sourceFile, line: event.lineNumber, sample: event.sample,
  }));
});
"""


@dataclass
class CspWatch:
    """The Content-Security-Policy violations the pages of one browser context reported."""

    violations: list[dict] = field(default_factory=list)

    def attach(self, context) -> None:
        context.expose_binding("__cspReport", self._report)
        context.add_init_script(_CSP_LISTENER)

    def _report(self, _source, path: str, found: str) -> None:
        self.violations.append({"page": path, **json.loads(found)})

    def check(self) -> None:
        if self.violations:
            lines = [
                f"{v['page']}: {v['directive']} blocked {v['blocked'] or 'inline'}"
                f" ({v['source']}:{v['line']}) {v['sample']}"
                for v in self.violations
            ]
            raise AssertionError("Content-Security-Policy violations:\n" + "\n".join(lines))


def csp_watched_context(browser, **kwargs):
    """A browser context whose pages report CSP violations (not audited by axe-core);
    close it through `close_checked`."""
    context = browser.new_context(**kwargs)
    context.csp = CspWatch()
    context.csp.attach(context)
    return context


@dataclass
class AxeAudit:
    """The serious and critical violations the pages of one browser context reported."""

    violations: list[dict] = field(default_factory=list)

    def attach(self, context) -> None:
        context.expose_binding("__axeReport", self._report)
        context.add_init_script(path=str(AXE_JS))
        context.add_init_script(_RUNNER)

    def _report(self, _source, path: str, found: str) -> None:
        for violation in json.loads(found):
            self.violations.append({"page": path, **violation})

    def check(self) -> None:
        if self.violations:
            lines = [
                f"{v['page']}: [{v['impact']}] {v['id']} — {v['help']} — {v['targets']}"
                for v in self.violations
            ]
            raise AssertionError("axe-core violations:\n" + "\n".join(lines))


def audited_context(browser, **kwargs):
    """A browser context whose pages are audited; call `context.axe.check()` (or close
    it through `close_checked`) at the end of the test."""
    context = csp_watched_context(browser, **kwargs)
    audit = AxeAudit()
    audit.attach(context)
    context.axe = audit
    return context


def close_checked(context) -> None:
    """Close the context, then fail on what its pages reported (CSP violations, then
    axe-core's)."""
    audit = getattr(context, "axe", None)
    csp = getattr(context, "csp", None)
    for page in context.pages:  # let the last page's audit (debounced) report
        if not page.is_closed():
            page.wait_for_timeout(1500)
    context.close()
    if csp is not None:
        csp.check()
    if audit is not None:
        audit.check()
