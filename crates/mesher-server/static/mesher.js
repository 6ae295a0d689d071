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
  // or unchecks the rows' checkboxes (those of the table body) in its form, and follows them.
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
      var boxes = form.querySelectorAll("tbody input[type=checkbox][name]");
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

  // ---- Keyboard ------------------------------------------------------------------------------
  // Shortcuts after Gmail's and GitHub's: "?" lists them, "/" searches, j/k move in the issue
  // list, o or Enter opens, u goes back to the list, r resolves, a archives, Escape closes.
  // Actions reload the page (they are plain form posts), so where the focus belongs afterwards
  // is kept in sessionStorage and restored on the next page: the acted-on control, or the row
  // that took the acted-on issue's place in the list.
  var FOCUS_KEY = "mesher-focus";
  var LIST_KEY = "mesher-list";
  var SHORTCUTS = [
    ["?", "Show this list"],
    ["/", "Search"],
    ["j / k", "Next / previous issue"],
    ["o or Enter", "Open the issue"],
    ["u", "Back to the issue list"],
    ["r", "Resolve the issue"],
    ["a", "Archive the issue"],
    ["Esc", "Close this list, a menu or a panel"]
  ];

  function remember(key, value) {
    try {
      window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      // Storage disabled: the focus starts at the top of the next page, as without a script.
    }
  }

  function recall(key, keep) {
    try {
      var value = JSON.parse(window.sessionStorage.getItem(key) || "null");
      if (!keep) { window.sessionStorage.removeItem(key); }
      return value;
    } catch (e) {
      return null;
    }
  }

  function issueRows() {
    return Array.prototype.filter.call(
      document.querySelectorAll("table.issues-table tbody tr"),
      function (row) { return row.querySelector("a.cell-title"); });
  }

  function currentRow(rows) {
    return rows.findIndex(function (row) { return row.contains(document.activeElement); });
  }

  function focusRow(row) {
    var link = row.querySelector("a.cell-title");
    link.focus();
    link.scrollIntoView({ block: "nearest" });
  }

  // Where the focus goes after a form post: the first row that was selected (bulk actions on
  // the list), else the control of the same name in the same form (the issue's state buttons).
  function rememberSubmit(form, submitter) {
    var path = window.location.pathname;
    if (form.classList.contains("bulk")) {
      var rows = issueRows();
      var first = rows.findIndex(function (row) {
        var box = row.querySelector("input[name=issue]");
        return box && box.checked;
      });
      remember(FOCUS_KEY, { path: path, row: Math.max(first, 0) });
    } else if (submitter && submitter.name && form.getAttribute("action")) {
      remember(FOCUS_KEY, {
        path: path,
        selector: 'form[action="' + form.getAttribute("action") + '"] [name="' + submitter.name + '"]'
      });
    }
  }

  function restoreFocus() {
    var path = window.location.pathname;
    var saved = recall(FOCUS_KEY);
    var list = recall(LIST_KEY, true);
    if (list && list.path === path && !(saved && saved.path === path)) {
      saved = list;
      recall(LIST_KEY);
    }
    if (!saved || saved.path !== path) {
      return;
    }
    if (typeof saved.row === "number") {
      var rows = issueRows();
      if (rows.length) { focusRow(rows[Math.min(saved.row, rows.length - 1)]); }
    } else if (saved.selector) {
      var element = document.querySelector(saved.selector);
      if (element) { element.focus(); }
    }
  }

  // Opening an issue from the list remembers the list and the row, for "u" and the way back.
  function rememberList(row) {
    remember(LIST_KEY, {
      path: window.location.pathname,
      href: window.location.pathname + window.location.search,
      row: issueRows().indexOf(row)
    });
  }

  function shortcutsDialog() {
    var dialog = document.getElementById("shortcuts");
    if (dialog) {
      return dialog;
    }
    dialog = document.createElement("dialog");
    dialog.id = "shortcuts";
    dialog.className = "shortcuts";
    dialog.setAttribute("aria-labelledby", "shortcuts-heading");
    var heading = document.createElement("h2");
    heading.id = "shortcuts-heading";
    heading.textContent = "Keyboard shortcuts";
    var list = document.createElement("dl");
    SHORTCUTS.forEach(function (entry) {
      var item = document.createElement("div");
      var key = document.createElement("dt");
      key.appendChild(document.createElement("kbd")).textContent = entry[0];
      var what = document.createElement("dd");
      what.textContent = entry[1];
      item.appendChild(key);
      item.appendChild(what);
      list.appendChild(item);
    });
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn";
    close.textContent = "Close";
    close.addEventListener("click", function () { dialog.close(); });
    dialog.appendChild(heading);
    dialog.appendChild(list);
    dialog.appendChild(close);
    document.body.appendChild(dialog);
    return dialog;
  }

  function showShortcuts() {
    var dialog = shortcutsDialog();
    if (!dialog.open) { dialog.showModal(); }
  }

  // Escape closes the open menu or panel the focus is in (or the last one opened) and puts the
  // focus back on its button; the dialog closes itself.
  function closeMenus() {
    var open = document.querySelectorAll(
      "details[open].switcher, details[open].archive-menu, details[open].confirm-menu");
    var menu = Array.prototype.find.call(open, function (d) {
      return d.contains(document.activeElement);
    }) || open[open.length - 1];
    if (!menu) {
      return false;
    }
    menu.open = false;
    menu.querySelector("summary").focus();
    return true;
  }

  function typing(target) {
    return target.isContentEditable ||
      /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  // The list's shortcuts act on the focused row through the bulk form: only its box checked.
  function bulkOnRow(action) {
    var rows = issueRows();
    var index = currentRow(rows);
    var button = document.querySelector('form.bulk button[name=action][value="' + action + '"]');
    if (index < 0 || !button) {
      return false;
    }
    button.form.querySelectorAll("input[name=issue]").forEach(function (box) {
      box.checked = rows[index].contains(box);
    });
    button.form.requestSubmit(button);
    return true;
  }

  function onKey(event) {
    if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      if (closeMenus()) { event.preventDefault(); }
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey ||
        typing(event.target) || document.querySelector("dialog[open]")) {
      return;
    }
    var rows = issueRows();
    var index = currentRow(rows);
    var handled = true;
    switch (event.key) {
      case "?":
        showShortcuts();
        break;
      case "/":
        var search = document.querySelector('form[role=search] input[type=search], form[role=search] input[name=q]');
        if (search) { search.focus(); search.select(); } else { handled = false; }
        break;
      case "j":
      case "k":
        if (rows.length) {
          var next = index < 0 ? 0 : index + (event.key === "j" ? 1 : -1);
          focusRow(rows[Math.max(0, Math.min(next, rows.length - 1))]);
        } else {
          handled = false;
        }
        break;
      case "o":
        if (index >= 0) { rows[index].querySelector("a.cell-title").click(); } else { handled = false; }
        break;
      case "u":
        var list = recall(LIST_KEY, true);
        var nav = document.querySelector('nav[aria-label="Main"] a[href$="/issues"]');
        if (document.querySelector("form.action-row") && (list || nav)) {
          window.location.href = list ? list.href : nav.href;
        } else {
          handled = false;
        }
        break;
      case "r":
        var resolve = document.querySelector('form.action-row button[name=status][value=resolve]');
        if (resolve) { resolve.click(); } else { handled = bulkOnRow("resolve"); }
        break;
      case "a":
        var archive = document.querySelector("details.archive-menu");
        if (archive) {
          archive.open = true;
          archive.querySelector("select, button").focus();
        } else {
          handled = bulkOnRow("archive");
        }
        break;
      default:
        handled = false;
    }
    if (handled) { event.preventDefault(); }
  }

  function initKeyboard() {
    document.addEventListener("keydown", onKey);
    // Enter in a filter's <select> applies the filters, as it does in the filter's text fields.
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key === "Enter" && target.tagName === "SELECT" && target.form &&
          target.form.getAttribute("role") === "search") {
        event.preventDefault();
        target.form.requestSubmit();
      }
    });
    document.addEventListener("submit", function (event) {
      if (!event.defaultPrevented) { rememberSubmit(event.target, event.submitter); }
    });
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("table.issues-table a.cell-title");
      if (link) { rememberList(link.closest("tr")); }
    });
    document.querySelectorAll("[data-shortcuts]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", showShortcuts);
    });
    restoreFocus();
  }

  // ---- Time zone ----------------------------------------------------------------------------
  // The server writes times in the zone the user chose, else the browser's, which only a script
  // can tell it: this cookie. It runs on every page (the sign-in page too), so the first page
  // after signing in already shows local times; a changed zone (travel) shows from the next page.
  function reportTimeZone() {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      return;
    }
    if (!zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) { return; }
    var current = document.cookie.split("; ").filter(function (c) {
      return c.indexOf("mesher_tz=") === 0;
    })[0];
    if (current === "mesher_tz=" + zone) { return; }
    var secure = window.location.protocol === "https:" ? "; secure" : "";
    document.cookie = "mesher_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" + secure;
  }

  reportTimeZone();
  initThemeToggle();
  initCopyButtons();
  initConfirmations();
  initSelectAll();
  initKeyboard();
})();
