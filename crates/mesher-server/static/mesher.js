// Mesher's dashboard behaviour. No framework: pages are complete HTML without this file, which
// only adds what needs a script (the theme toggle, copying to the clipboard, confirmations).
(function () {
  "use strict";

  var root = document.documentElement;
  var STORAGE_KEY = "mesher-theme";

  // Announces a short message to screen readers through the page's live region.
  function announce(message) {
    var live = document.getElementById("live");
    if (live) {
      live.textContent = "";
      window.setTimeout(function () { live.textContent = message; }, 50);
    }
  }

  // ---- Theme toggle -------------------------------------------------------------------------
  // The effective theme is the explicit choice on <html data-theme>, else the system's.
  function effectiveTheme() {
    var chosen = root.getAttribute("data-theme");
    if (chosen === "dark" || chosen === "light") {
      return chosen;
    }
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function syncToggles() {
    var dark = effectiveTheme() === "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-pressed", dark ? "true" : "false");
    });
  }

  function initThemeToggle() {
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var next = effectiveTheme() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try {
          window.localStorage.setItem(STORAGE_KEY, next);
        } catch (e) {
          // Not persisted; the choice still holds for this page.
        }
        syncToggles();
        announce(next === "dark" ? "Dark theme" : "Light theme");
      });
    });
    syncToggles();
    // Follow the system while the user has not chosen.
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", syncToggles);
  }

  // ---- Copy to clipboard --------------------------------------------------------------------
  // <button data-copy="ID"> copies the value (inputs) or text of the element with that id.
  function copyText(text, element) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a LAN address is not a secure context: select and use the old command.
    return new Promise(function (resolve, reject) {
      var selection = window.getSelection();
      var range = document.createRange();
      if (element.select) {
        element.select();
      } else {
        range.selectNodeContents(element);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      var ok = document.execCommand("copy");
      if (!element.select) {
        selection.removeAllRanges();
      }
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function initCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) {
        return;
      }
      button.hidden = false;
      var label = button.textContent;
      button.addEventListener("click", function () {
        var text = "value" in target ? target.value : target.textContent;
        copyText(text, target).then(function () {
          button.textContent = "Copied";
          announce("Copied to the clipboard");
        }, function () {
          button.textContent = "Press Ctrl+C";
          if (target.select) { target.select(); }
        }).then(function () {
          window.setTimeout(function () { button.textContent = label; }, 1500);
        });
      });
    });
  }

  // ---- Confirmations ------------------------------------------------------------------------
  // <form data-confirm="Delete this issue?">, or data-confirm on the submit button that was used
  // (bulk actions share one form).
  function initConfirmations() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message = (submitter && submitter.getAttribute("data-confirm")) ||
        form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) {
        event.preventDefault();
      }
    });
  }

  // ---- Select all ---------------------------------------------------------------------------
  // <input type="checkbox" data-select-all> (inside a hidden label: it needs this script) checks
  // or unchecks the other checkboxes of its form, and follows them.
  function initSelectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (all) {
      var form = all.form;
      if (!form) {
        return;
      }
      var hidden = all.closest("[hidden]");
      if (hidden) {
        hidden.hidden = false;
      }
      var boxes = form.querySelectorAll("input[type=checkbox][name]");
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
      });
      form.addEventListener("change", function (event) {
        if (event.target === all) {
          return;
        }
        var checked = Array.prototype.filter.call(boxes, function (box) { return box.checked; });
        all.checked = checked.length === boxes.length;
        all.indeterminate = checked.length > 0 && checked.length < boxes.length;
      });
    });
  }

  initThemeToggle();
  initCopyButtons();
  initConfirmations();
  initSelectAll();
})();
