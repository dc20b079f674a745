// Marketplace dialogs: a <dialog data-modal> opens as a modal when it arrives (htmx swap
// or page load); one loaded into #dialog-slot is removed when closed, so the next click
// fetches a fresh one. Without JavaScript the same dialogs are plain pages.
(function () {
  "use strict";

  function openDialogs(root) {
    var dialogs = [];
    if (root.matches && root.matches("dialog[data-modal]")) dialogs.push(root);
    if (root.querySelectorAll) dialogs.push.apply(dialogs, root.querySelectorAll("dialog[data-modal]"));
    dialogs.forEach(function (dialog) {
      if (!dialog.open) dialog.showModal();
      var focus = dialog.querySelector("[autofocus]");
      if (focus) focus.focus();
    });
  }
  htmx.onLoad(openDialogs);

  // A menu item that opens a dialog closes its menu first.
  document.addEventListener("click", function (event) {
    var item = event.target.closest("details[data-menu] [role=menuitem]");
    if (item) item.closest("details[data-menu]").removeAttribute("open");
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-dialog-close]");
    if (!close) return;
    var dialog = close.closest("dialog");
    if (dialog && dialog.closest("#dialog-slot")) {
      event.preventDefault();
      dialog.close();
    }
  });

  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) return;
    if (dialog.closest("#dialog-slot")) {
      dialog.remove();
    } else if (dialog.dataset.cancelUrl) {
      window.location.href = dialog.dataset.cancelUrl;
    }
  }, true);
})();
