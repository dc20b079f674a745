// The workflow builder's behaviours: token chips, the data-variable picker, the action
// search, focus management and the unsaved-changes guard. Vanilla JS, no framework.
(function () {
  "use strict";

  var dirty = false;
  var lastRange = null; // where the caret was in a token editor
  var lastEditor = null;
  var pickerOpener = null;

  // --- Token editors: a contenteditable showing chips; the hidden input holds the text.
  function serialize(node) {
    var out = "";
    node.childNodes.forEach(function (child) {
      if (child.nodeType === Node.TEXT_NODE) out += child.textContent;
      else if (child.dataset && child.dataset.token) out += child.dataset.token;
      else if (child.nodeName === "BR") out += "\n";
      else if (child.nodeName === "DIV" || child.nodeName === "P") out += (out ? "\n" : "") + serialize(child);
      else out += serialize(child);
    });
    return out.replace(/\u00a0/g, " ");
  }
  function sync(editor) {
    var input = editor.parentNode.querySelector('[data-token-input="' + editor.dataset.tokenEditor + '"]');
    if (input) input.value = serialize(editor);
  }
  function syncAll(root) {
    (root || document).querySelectorAll("[data-token-editor]").forEach(sync);
  }
  // A click on a chip can put the caret inside it (it is not editable, but Chrome still
  // places the selection in its text); typing or inserting there would be lost. Move
  // such a caret to just after the chip.
  function caretOutOfChip(editor) {
    var selection = window.getSelection();
    if (!selection.rangeCount) return;
    var node = selection.anchorNode;
    var element = node && (node.nodeType === Node.ELEMENT_NODE ? node : node.parentNode);
    var chip = element && element.closest && element.closest(".token-chip");
    if (!chip || !editor.contains(chip)) return;
    var next = chip.nextSibling;
    if (!next || next.nodeType !== Node.TEXT_NODE) {
      next = document.createTextNode("");
      chip.after(next);
    }
    var range = document.createRange();
    range.setStart(next, 0);
    range.collapse(true);
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function remember(editor) {
    caretOutOfChip(editor);
    var selection = window.getSelection();
    if (selection.rangeCount && editor.contains(selection.anchorNode)) {
      lastRange = selection.getRangeAt(0).cloneRange();
      lastEditor = editor;
    }
  }
  // Controls inside [data-guard-ignore] (e.g. a Test section's record search) change
  // nothing that is saved.
  function guarded(target) {
    return target.closest && target.closest("form[data-guard]") && !target.closest("[data-guard-ignore]");
  }
  document.addEventListener("input", function (event) {
    var editor = event.target.closest && event.target.closest("[data-token-editor]");
    if (editor) { sync(editor); remember(editor); }
    if (guarded(event.target)) dirty = true;
  });
  document.addEventListener("change", function (event) {
    if (guarded(event.target)) dirty = true;
  });
  ["keyup", "mouseup", "focusin"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var editor = event.target.closest && event.target.closest("[data-token-editor]");
      if (editor) remember(editor);
    });
  });

  function insertChip(field, token, label) {
    var editor = document.querySelector('[data-token-editor="' + field + '"]');
    if (!editor) return;
    var chip = document.createElement("span");
    chip.className = "token-chip";
    chip.contentEditable = "false";
    chip.dataset.token = token;
    chip.textContent = label;
    var range = (lastEditor === editor && lastRange) ? lastRange : null;
    if (!range) {
      range = document.createRange();
      range.selectNodeContents(editor);
      range.collapse(false);
    }
    range.deleteContents();
    range.insertNode(chip);
    var space = document.createTextNode("\u00a0");
    chip.after(space);
    editor.focus();
    var after = document.createRange();
    after.setStartAfter(space);
    after.collapse(true);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(after);
    lastRange = after.cloneRange();
    lastEditor = editor;
    sync(editor);
    dirty = true;
  }

  // --- The picker
  function closePicker() {
    var picker = document.getElementById("picker");
    if (picker) { picker.hidden = true; picker.innerHTML = ""; }
    if (pickerOpener && document.body.contains(pickerOpener)) pickerOpener.focus();
  }
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-insert-data]");
    if (opener) { pickerOpener = opener; syncAll(opener.closest("form")); }
    var item = event.target.closest(".picker-item");
    if (item && !item.disabled) {
      var picker = document.getElementById("picker");
      insertChip(picker.dataset.pickerField, item.dataset.token, item.dataset.chip);
      pickerOpener = null;
      var editor = document.querySelector('[data-token-editor="' + picker.dataset.pickerField + '"]');
      picker.hidden = true;
      picker.innerHTML = "";
      if (editor) editor.focus();
    }
    if (event.target.closest("[data-picker-close]")) closePicker();
  });
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-picker-source]")) return;
    var picker = event.target.closest("#picker");
    picker.querySelectorAll("[data-source]").forEach(function (list) {
      list.hidden = list.dataset.source !== event.target.value;
    });
  });

  // --- Search boxes: actions, picker variables, property selects
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches("[data-filter-actions]")) {
      var query = target.value.trim().toLowerCase();
      document.querySelectorAll("[data-action-item]").forEach(function (item) {
        item.hidden = query && item.dataset.search.indexOf(query) === -1;
      });
      document.querySelectorAll(".action-section").forEach(function (section) {
        var visible = section.querySelector("[data-action-item]:not([hidden])");
        section.hidden = !visible;
        if (query && visible) section.open = true;
      });
    } else if (target.matches("[data-picker-search]")) {
      var q = target.value.trim().toLowerCase();
      target.closest("#picker").querySelectorAll("li[data-search]").forEach(function (item) {
        item.hidden = q && item.dataset.search.indexOf(q) === -1;
      });
    } else if (target.matches("[data-filter-select]")) {
      var select = document.getElementById(target.dataset.filterSelect);
      var text = target.value.trim().toLowerCase();
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        var match = !option.value || option.text.toLowerCase().indexOf(text) !== -1;
        option.hidden = !match;
        if (match && option.value && !first) first = option;
      });
    }
  });

  // --- Keyboard: Escape closes the picker, then the panel; focus goes back.
  document.addEventListener("keydown", function (event) {
    var editor = event.target.closest && event.target.closest("[data-token-editor]");
    if (editor && event.key.length === 1 && !event.ctrlKey && !event.metaKey) caretOutOfChip(editor);
    if (event.key !== "Escape") return;
    var picker = document.getElementById("picker");
    if (picker && !picker.hidden) { event.preventDefault(); closePicker(); return; }
    var close = document.querySelector("#panel [data-close-panel]");
    if (close && !document.querySelector("details[data-menu][open]")) { event.preventDefault(); close.click(); }
  });

  // --- htmx: keep hidden inputs in sync, guard unsaved changes, manage focus.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest("form");
    if (form) {
      syncAll(form);
      form.querySelectorAll("[data-token-input]").forEach(function (input) {
        event.detail.parameters[input.name] = input.value;
      });
    }
  });
  document.addEventListener("submit", function (event) { syncAll(event.target); }, true);
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var leaving = elt.matches("[data-close-panel], .card-open, .add-step, .menu-item");
    if (dirty && leaving && !window.confirm(unsavedMessage())) {
      event.preventDefault();
    }
  });
  function unsavedMessage() {
    var body = document.querySelector("[data-unsaved-message]");
    return body ? body.dataset.unsavedMessage : "Discard your unsaved changes?";
  }
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.target && event.detail.target.id === "panel") opener = document.activeElement;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "panel" || (event.detail.elt && event.detail.elt.id === "panel")) {
      dirty = false;
      var panel = document.getElementById("panel");
      if (panel && panel.dataset.panelKind) {
        var focus = panel.querySelector("[autofocus]") || panel.querySelector(".errorlist") || panel.querySelector("#panel-title");
        if (focus) { if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1"); focus.focus(); }
      } else if (opener && document.body.contains(opener)) {
        opener.focus();
      } else {
        var canvas = document.getElementById("canvas");
        if (canvas) { canvas.setAttribute("tabindex", "-1"); canvas.focus(); }
      }
    }
    var picker = document.getElementById("picker");
    if (picker && target.id === "picker" || (picker && event.detail.elt === picker)) {
      picker.hidden = false;
      var source = picker.querySelector("[data-picker-source]");
      if (source) source.focus();
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });
  document.addEventListener("submit", function () { dirty = false; });
})();
