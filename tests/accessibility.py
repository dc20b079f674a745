"""axe-core in every browser test: each page a test visits is audited when it loads and
after each htmx swap, and the test fails on a serious or critical violation.

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
    context = browser.new_context(**kwargs)
    audit = AxeAudit()
    audit.attach(context)
    context.axe = audit
    return context


def close_checked(context) -> None:
    """Close the context, then fail on what its pages reported."""
    audit = getattr(context, "axe", None)
    for page in context.pages:  # let the last page's audit (debounced) report
        if not page.is_closed():
            page.wait_for_timeout(1500)
    context.close()
    if audit is not None:
        audit.check()
