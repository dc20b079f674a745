// Every modal <dialog> (connect, uninstall, create record or task, confirmations): Tab and
// Shift+Tab stay inside it, Escape closes it (the browser's own "cancel"), and closing
// it puts the focus back on what opened it — also when the dialog was replaced by an
// htmx swap (a form error) or its opener sat in a menu that has closed since.
(function () {
  "use strict";

  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), ' +
    'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"]), [contenteditable="true"]';
  var opener = null;
  var lastFocused = null;  // outside any dialog: what to go back to when focus was lost
  document.addEventListener("focusin", function (event) {
    if (event.target.closest && !event.target.closest("dialog")) lastFocused = event.target;
  });

  function visible(element) {
    if (!element || !element.isConnected) return false;
    // checkVisibility() also sees inside a closed <details> (content-visibility).
    return element.checkVisibility ? element.checkVisibility() : element.getClientRects().length > 0;
  }

  function focusables(dialog) {
    return Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), visible);
  }

  // Remember what had the focus when a dialog opens as a modal; a dialog replacing an
  // open one (its htmx swap) keeps the first opener.
  var showModal = HTMLDialogElement.prototype.showModal;
  HTMLDialogElement.prototype.showModal = function () {
    var active = document.activeElement;
    if (active && active !== document.body && !active.closest("dialog")) opener = active;
    else if (!opener) opener = lastFocused;  // e.g. a menu item, hidden as its menu closed
    return showModal.apply(this, arguments);
  };

  function restoreFocus() {
    var target = opener;
    if (target && !visible(target)) {
      // A menu item whose menu closed: its menu's opener.
      var menu = target.isConnected && target.closest("details");
      target = menu ? menu.querySelector("summary") : null;
    }
    if (visible(target)) target.focus();
    opener = null;
  }

  document.addEventListener("close", function (event) {
    if (!(event.target instanceof HTMLDialogElement)) return;
    // After the other close handlers (one may remove the dialog, one may navigate).
    setTimeout(function () {
      if (!document.querySelector("dialog[open]")) restoreFocus();
    }, 0);
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialogs = document.querySelectorAll("dialog[open]");
    var dialog = null;
    for (var i = dialogs.length - 1; i >= 0; i--) {
      if (dialogs[i].matches(":modal")) { dialog = dialogs[i]; break; }
    }
    if (!dialog) return;
    var items = focusables(dialog);
    if (!items.length) { event.preventDefault(); return; }
    var first = items[0];
    var last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });
})();
