// Live updates over a project's stream (issue 15). A page that wants them marks an element with
// data-live-stream="<the stream's path and filters>"; this script opens that WebSocket (the
// session cookie authenticates it) and applies what arrives:
// - `event`: the Live page prepends a row to [data-live-rows] (at most MAX_ROWS; held while
//   paused, with a count of them);
// - `counts`: every [data-live-count="<figure>"] shows the new figure (the overview's cards);
// - `issue` (and `event`): the row [data-live-issue="<id>"] shows the issue's new counts (the
//   issue list);
// - `alert`: the alert list prepends a row to [data-live-alerts] (when its state filter shows
//   the alert) and counts the new ones in [data-live-alert-count];
// - `lagged`, and a lost connection: a notice that some updates are missing.
// Without this script every page is complete as the server rendered it. Event text is
// attacker-controlled (anyone with a DSN sends it): it only ever goes into textContent and
// attributes, never into markup.
(function () {
  "use strict";

  var root = document.querySelector("[data-live-stream]");
  if (!root || !("WebSocket" in window)) {
    return;
  }

  var MAX_ROWS = 200;
  var LEVELS = ["fatal", "error", "warning", "info", "debug"];
  // Reconnection delays grow from 1 s to 30 s; a random part keeps a restarted server from being
  // hit by every open page in the same instant.
  var MIN_DELAY = 1000;
  var MAX_DELAY = 30000;

  var rows = document.querySelector("[data-live-rows]");
  var status = document.querySelector("[data-live-status]");
  var notice = document.querySelector("[data-live-notice]");
  var held = document.querySelector("[data-live-held]");
  var pauseButton = document.querySelector("[data-live-pause]");

  var paused = false;
  var waiting = []; // Events that arrived while paused, oldest first.
  var waitingCount = 0; // All of them, also those beyond MAX_ROWS that were let go.
  var missed = 0; // Messages the server dropped for this page (lagged).
  var interrupted = false; // Whether a connection was lost since the page loaded.
  var subscribed = false; // Whether the current connection was accepted.
  var attempt = 0; // Failed connections in a row.

  // ---- Formatting (as the server formats: src/dashboard/format.rs) -------------------------
  function count(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function ago(date) {
    var secs = Math.floor((Date.now() - date.getTime()) / 1000);
    if (secs < 60) { return "just now"; }
    if (secs < 3600) { return Math.floor(secs / 60) + " min ago"; }
    if (secs < 86400) { return Math.floor(secs / 3600) + " h ago"; }
    if (secs < 2592000) { return Math.floor(secs / 86400) + " d ago"; }
    return date.toISOString().slice(0, 10);
  }

  function exact(date) {
    return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  // ---- Status and notices -------------------------------------------------------------------
  // The state is also on the root element, where styles and tests can see it on every page.
  function setStatus(state, text) {
    root.setAttribute("data-live-state", state);
    if (status) {
      status.setAttribute("data-state", state);
      status.textContent = text;
    }
  }

  function showNotice() {
    if (!notice) {
      return;
    }
    var parts = [];
    if (missed > 0) {
      parts.push(count(missed) + (missed === 1 ? " update was" : " updates were") +
        " skipped because this page fell behind.");
    }
    if (interrupted) {
      parts.push("The connection was interrupted: events of that moment may be missing.");
    }
    notice.textContent = parts.join(" ") + " Reload the page to see every event.";
    notice.hidden = false;
  }

  // ---- The Live page's rows -----------------------------------------------------------------
  function cell(className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    return td;
  }

  function eventRow(e) {
    var level = LEVELS.indexOf(e.level) >= 0 ? e.level : "error";
    var tr = document.createElement("tr");
    tr.className = "live-new";

    var when = cell("fit");
    var date = new Date(e.timestamp);
    if (!isNaN(date.getTime())) {
      var time = document.createElement("time");
      time.dateTime = date.toISOString();
      time.title = exact(date);
      time.textContent = ago(date);
      when.appendChild(time);
    }
    tr.appendChild(when);

    var title = cell("");
    var badge = document.createElement("span");
    badge.className = "badge level-" + level;
    badge.textContent = level;
    var link = document.createElement("a");
    link.className = "cell-title";
    link.href = rows.getAttribute("data-issue-base") + encodeURIComponent(e.issue_id) +
      "?event=" + encodeURIComponent(e.id);
    link.textContent = e.title;
    title.appendChild(badge);
    title.appendChild(document.createTextNode(" "));
    title.appendChild(link);
    tr.appendChild(title);

    var issue = cell("fit mono");
    issue.textContent = "#" + e.issue_id;
    tr.appendChild(issue);
    var environment = cell("fit");
    environment.textContent = e.environment || "";
    tr.appendChild(environment);
    var release = cell("fit mono");
    release.textContent = e.release || "";
    tr.appendChild(release);
    return tr;
  }

  function prepend(e) {
    rows.insertBefore(eventRow(e), rows.firstChild);
    while (rows.children.length > MAX_ROWS) {
      rows.removeChild(rows.lastElementChild);
    }
    var table = document.querySelector("[data-live-table]");
    var empty = document.querySelector("[data-live-empty]");
    if (table) { table.hidden = false; }
    if (empty) { empty.hidden = true; }
  }

  function showHeld() {
    if (!held) {
      return;
    }
    held.hidden = waitingCount === 0;
    held.textContent = count(waitingCount) + " new while paused";
  }

  function onEvent(e) {
    if (typeof e.id !== "string" || typeof e.issue_id !== "number") {
      return;
    }
    countEvent(e.issue_id);
    if (!rows) {
      return;
    }
    if (paused) {
      waiting.push(e);
      if (waiting.length > MAX_ROWS) {
        waiting.shift();
      }
      waitingCount += 1;
      showHeld();
    } else {
      prepend(e);
    }
  }

  function setPaused(value) {
    paused = value;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    if (!paused) {
      waiting.forEach(prepend);
      waiting = [];
      waitingCount = 0;
      showHeld();
    }
    if (socket && socket.readyState === WebSocket.OPEN) {
      setStatus(paused ? "paused" : "open", paused ? "Paused" : "Live");
    }
  }

  // Relative times age: refresh them as the server would write them now.
  function refreshTimes() {
    var list = rows || alerts;
    if (!list) {
      return;
    }
    list.querySelectorAll("time[datetime]").forEach(function (time) {
      var date = new Date(time.getAttribute("datetime"));
      if (!isNaN(date.getTime())) {
        time.textContent = ago(date);
      }
    });
  }

  // ---- Counts -------------------------------------------------------------------------------
  function onCounts(c) {
    document.querySelectorAll("[data-live-count]").forEach(function (el) {
      var value = c[el.getAttribute("data-live-count")];
      if (typeof value === "number") {
        el.textContent = count(value);
        var reveal = el.closest("[data-live-reveal]");
        if (reveal) { reveal.hidden = false; }
      }
    });
  }

  // `issue` messages come when an issue is created or changes state, not for every event: an
  // event adds one to its issue's count in the list, and the next `issue` message (sent after
  // the event's) brings the exact figures.
  function countEvent(issueId) {
    var el = document.querySelector('[data-live-issue="' + issueId + '"] [data-live-field="count"]');
    if (el) {
      var n = parseInt(el.textContent.replace(/,/g, ""), 10);
      if (!isNaN(n)) {
        el.textContent = count(n + 1);
      }
    }
  }

  function onIssue(i) {
    if (typeof i.issue_id !== "number") {
      return;
    }
    var row = document.querySelector('[data-live-issue="' + i.issue_id + '"]');
    if (!row) {
      return;
    }
    row.querySelectorAll("[data-live-field]").forEach(function (el) {
      var value = i[el.getAttribute("data-live-field")];
      if (typeof value === "number") {
        el.textContent = count(value);
      }
    });
  }

  // ---- The alert list ------------------------------------------------------------------------
  var alerts = document.querySelector("[data-live-alerts]");
  var alertCount = document.querySelector("[data-live-alert-count]");
  var newAlerts = 0;

  // The same cells and forms as the server's rows (templates/macros.html, `alert_row`). A new
  // alert is active, so both its forms apply.
  function stateForm(base, id, state, label) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = base + encodeURIComponent(id) + "/state";
    var csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "_csrf";
    csrf.value = alerts.getAttribute("data-csrf");
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "btn btn-sm";
    button.name = "state";
    button.value = state;
    button.textContent = label;
    form.appendChild(csrf);
    form.appendChild(button);
    return form;
  }

  function alertRow(a) {
    var base = alerts.getAttribute("data-alert-base");
    var tr = document.createElement("tr");
    tr.className = "live-new";
    tr.setAttribute("data-alert-id", String(a.alert_id));

    var when = cell("fit");
    var date = new Date(a.fired_at);
    if (!isNaN(date.getTime())) {
      var time = document.createElement("time");
      time.dateTime = date.toISOString();
      time.title = exact(date);
      time.textContent = ago(date);
      when.appendChild(time);
    }
    tr.appendChild(when);

    var summary = cell("");
    var link = document.createElement("a");
    link.className = "cell-title";
    link.href = base + encodeURIComponent(a.alert_id);
    link.textContent = a.summary;
    summary.appendChild(link);
    tr.appendChild(summary);

    var kind = cell("fit");
    kind.textContent = a.kind;
    tr.appendChild(kind);

    var state = cell("fit");
    var badge = document.createElement("span");
    badge.className = "badge alert-state-" + (/^[a-z]+$/.test(a.state) ? a.state : "active");
    badge.setAttribute("data-alert-field", "state");
    badge.textContent = a.state;
    state.appendChild(badge);
    tr.appendChild(state);

    var issue = cell("fit mono");
    if (typeof a.issue_id === "number") {
      var issueLink = document.createElement("a");
      issueLink.href = alerts.getAttribute("data-issue-base") + encodeURIComponent(a.issue_id);
      issueLink.textContent = "#" + a.issue_id;
      issue.appendChild(issueLink);
    }
    tr.appendChild(issue);

    var actions = cell("fit");
    var row = document.createElement("div");
    row.className = "action-row";
    if (a.state === "active") {
      row.appendChild(stateForm(base, a.alert_id, "acknowledged", "Acknowledge"));
    }
    if (a.state !== "resolved") {
      row.appendChild(stateForm(base, a.alert_id, "resolved", "Resolve"));
    }
    actions.appendChild(row);
    tr.appendChild(actions);
    return tr;
  }

  function onAlert(a) {
    if (typeof a.alert_id !== "number" || !alerts) {
      return;
    }
    var filter = alerts.getAttribute("data-alert-state");
    if ((filter !== "all" && filter !== a.state) ||
        alerts.querySelector('[data-alert-id="' + a.alert_id + '"]')) {
      return;
    }
    alerts.insertBefore(alertRow(a), alerts.firstChild);
    var table = document.querySelector("[data-live-table]");
    var empty = document.querySelector("[data-live-empty]");
    if (table) { table.hidden = false; }
    if (empty) { empty.hidden = true; }
    newAlerts += 1;
    if (alertCount) {
      alertCount.textContent = count(newAlerts) + " new";
      alertCount.hidden = false;
    }
  }

  // ---- The connection -----------------------------------------------------------------------
  var socket = null;

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + root.getAttribute("data-live-stream");
  }

  function onMessage(message) {
    var m;
    try {
      m = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    switch (m.type) {
      case "subscribed":
        subscribed = true;
        attempt = 0;
        setStatus(paused ? "paused" : "open", paused ? "Paused" : "Live");
        break;
      case "event":
        onEvent(m);
        break;
      case "counts":
        onCounts(m);
        break;
      case "issue":
        onIssue(m);
        break;
      case "alert":
        onAlert(m);
        break;
      case "lagged":
        missed += typeof m.missed === "number" ? m.missed : 0;
        showNotice();
        break;
      default:
        // `error` answers a message of ours (we send none): ignored.
        break;
    }
  }

  function connect() {
    setStatus("connecting", "Connecting…");
    socket = new WebSocket(url());
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", function (event) {
      socket = null;
      if (leaving) {
        return;
      }
      if (subscribed) {
        subscribed = false;
        interrupted = true;
        showNotice();
      }
      var delay = Math.min(MAX_DELAY, MIN_DELAY * Math.pow(2, attempt));
      delay = Math.round(delay * (0.5 + Math.random() / 2));
      attempt += 1;
      var why = event.reason ? event.reason + ". " : "";
      setStatus("closed", "Disconnected. " + why + "Retrying in " +
        Math.max(1, Math.round(delay / 1000)) + " s…");
      window.setTimeout(connect, delay);
    });
  }

  // Navigating away closes the socket: that is no interruption to report or recover from.
  var leaving = false;
  window.addEventListener("pagehide", function () {
    leaving = true;
    if (socket) { socket.close(1000, "page left"); }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && leaving) {
      leaving = false;
      connect();
    }
  });

  if (pauseButton) {
    pauseButton.addEventListener("click", function () { setPaused(!paused); });
  }
  var controls = document.querySelector("[data-live-controls]");
  if (controls) {
    controls.hidden = false;
  }
  window.setInterval(refreshTimes, 30000);
  connect();
})();
