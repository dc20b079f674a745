// crmflow's small behaviours. Everything works without this file; it only adds comfort.
(function () {
  "use strict";

  // Close an open <details data-menu> when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  // A menu's opener says whether it is open (its summary is exposed as a button).
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!menu.matches || !menu.matches("details[data-menu]")) return;
    var summary = menu.querySelector("summary");
    if (summary && summary.hasAttribute("aria-expanded")) {
      summary.setAttribute("aria-expanded", menu.open ? "true" : "false");
    }
  }, true);
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });

  // <input data-select-on-click>: a click selects the whole value (a new API token),
  // instead of an inline onclick the Content-Security-Policy would block.
  document.addEventListener("click", function (event) {
    var input = event.target.closest && event.target.closest("[data-select-on-click]");
    if (input) input.select();
  });
})();
