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

  // <button data-copy-from="ID" data-copied="Copied">: copies the value of #ID and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copyFrom);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.value).then(function () {
      if (button.dataset.copied) button.textContent = button.dataset.copied;
    });
  });

  // <select data-submit-on-change>: choosing an option submits its form (the language).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("[data-submit-on-change]") && select.form) {
      select.form.requestSubmit();
    }
  });

  // <div data-width-percent="40">: a bar's width, set through the CSSOM (an inline style
  // attribute would be refused by the Content-Security-Policy). Runs on every htmx swap.
  function setWidths(root) {
    var bars = root.querySelectorAll ? root.querySelectorAll("[data-width-percent]") : [];
    Array.prototype.forEach.call(bars, function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.widthPercent) || 0)) + "%";
    });
  }
  setWidths(document);
  document.addEventListener("htmx:load", function (event) { setWidths(event.target); });
})();
