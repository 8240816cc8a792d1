/* The assembly-line dashboard: renders the state, applies events from ws/assembly-line/ as
   they arrive, shows when the connection is lost and reconnects with backoff, refreshing the
   snapshot. No build step; plain DOM, text only (titles are user input). */
(function () {
  "use strict";
  var PHASES = ["spec", "build", "test", "production"];
  var state = JSON.parse(document.getElementById("line-state").textContent);
  var events = (state.recent_events || []).slice();
  var socket = null, attempt = 0, reconnectAt = 0, lastSnapshotAsk = 0, snapshotTimer = null;
  var startedAt = Date.now();
  window.assemblyLine = { loadedAt: startedAt, snapshots: 0, events: 0 };

  function el(id) { return document.getElementById(id); }
  function h(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }
  function fill(node, children) {
    node.replaceChildren.apply(node, children.length ? children : [h("li", { cls: "empty", text: "none" })]);
  }
  function intentLink(intentId, title) {
    // The intent's read-only page; its id on hover.
    return h("a", { href: "/assembly-line/dashboard/intents/" + encodeURIComponent(intentId), title: intentId, cls: "intent-link", text: title || intentId });
  }
  function change(before, after) {
    return before && after && before !== after ? before + " → " + after : (after || before || "");
  }
  function ago(iso) {
    if (!iso) return "never";
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }
  function duration(seconds) {
    var s = Math.abs(Math.round(seconds));
    var text = s < 90 ? s + " s" : s < 5400 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";
    return seconds < 0 ? "-" + text : text;
  }

  function renderTiles() {
    var m = state.metrics || {};
    el("t-queued").textContent = state.queue_depth;
    el("t-progress").textContent = state.in_progress;
    el("t-review").textContent = m.awaiting_review;
    el("t-completed").textContent = m.completed_today;
    el("t-failed").textContent = m.failed_today;
    el("t-throughput").textContent = m.throughput_last_hour;
    el("t-success").textContent = m.success_rate_today == null ? "–" : Math.round(m.success_rate_today * 100) + " %";
    var wait = m.queue_wait || {};
    el("t-wait").textContent = wait.claims ? duration(wait.p50_seconds) + " / " + duration(wait.p95_seconds) : "–";
    el("t-oldest").textContent = wait.oldest ? duration(wait.oldest.waiting_seconds) + " (" + wait.oldest.phase + ")" : "–";
  }

  function renderQueue() {
    var byPriority = state.queue_by_priority || {};
    var byPhase = (state.metrics || {}).by_phase || {};
    var head = h("tr", {}, h("th", { text: "phase" }), h("th", { text: "queued" }), h("th", { text: "working" }), h("th", { text: "by priority (10 = highest)" }));
    var rows = [head];
    PHASES.forEach(function (phase) {
      var counts = byPhase[phase] || {};
      var working = (counts.assigned || 0) + (counts.in_progress || 0) + (counts.testing || 0);
      var prios = byPriority[phase] || {};
      var chips = h("span", { cls: "chips" });
      Object.keys(prios).sort(function (a, b) { return b - a; }).forEach(function (p) {
        chips.appendChild(h("span", { cls: "chip p" + p, text: "P" + p + " × " + prios[p] }));
      });
      rows.push(h("tr", { "data-phase": phase }, h("td", { text: phase }), h("td", { cls: "num", text: String(counts.queued || 0) }), h("td", { cls: "num", text: String(working) }), h("td", {}, chips)));
    });
    el("queue").querySelector("tbody").replaceChildren.apply(el("queue").querySelector("tbody"), rows);
  }

  function renderWip() {
    fill(el("wip"), (state.work_in_progress || []).map(function (w) {
      var bar = h("div", { cls: "bar" }, h("div", { cls: "fill", style: "width:" + Math.round(w.progress * 100) + "%" }));
      var badges = h("span", { cls: "badges" });
      if (w.stalled) badges.appendChild(h("span", { cls: "badge stalled", text: "stalled" }));
      if (w.spilled) badges.appendChild(h("span", { cls: "badge spilled", text: "spilled" }));
      if (w.attempts) badges.appendChild(h("span", { cls: "badge retry", text: "attempt " + (w.attempts + 1) }));
      return h("li", { "data-intent": w.intent_id, cls: w.stalled ? "stalled-row" : "" },
        h("div", { cls: "line" }, h("strong", {}, intentLink(w.intent_id, w.title)), h("span", { cls: "muted where", text: " " + w.phase + " · " + w.status + " · " + (w.executor_id || "") + " " }), badges),
        bar,
        h("div", { cls: "msg", text: Math.round(w.progress * 100) + " % " + (w.message || "") }));
    }));
  }

  function renderExecutors() {
    var body = el("executors").querySelector("tbody");
    var ids = Object.keys(state.executors || {}).sort();
    body.replaceChildren.apply(body, ids.map(function (id) {
      var e = state.executors[id];
      return h("tr", { "data-executor": id, cls: "st-" + e.status },
        h("td", { text: id }), h("td", { text: e.environment }),
        h("td", {}, h("span", { cls: "status " + e.status, text: e.status })),
        h("td", { cls: "work", text: (e.current_work_all || []).length ? e.current_work_all.join(", ") : "–" }),
        h("td", { cls: "age", "data-since": e.last_heartbeat || "", text: ago(e.last_heartbeat) }),
        h("td", { cls: "num", text: String(e.builds_completed) }));
    }));
  }

  function renderReview() {
    fill(el("review"), (state.review_inbox || []).map(function (r) {
      var left = r.sla_remaining_seconds - (Date.now() - syncedAt) / 1000;
      var checks = Object.keys(r.last_checks || {}).map(function (name) {
        return (r.last_checks[name].passed ? "✓ " : "✗ ") + name;
      }).join("  ");
      return h("li", { "data-intent": r.intent_id, cls: left < 0 ? "overdue" : "" },
        h("div", { cls: "line" }, h("a", { href: r.admin_url, text: r.title }), h("span", { cls: "muted", text: " after " + r.phase + " · by " + (r.created_by_label || r.created_by) + " · L" + r.verification_level })),
        h("div", { cls: "sla", "data-deadline": String(Date.now() + left * 1000), text: slaText(left) }),
        h("div", { cls: "msg", text: checks + (r.artifacts.length ? "  · artifacts: " + r.artifacts.join(", ") : "") }));
    }));
  }
  function slaText(left) {
    return left < 0 ? "SLA breached " + duration(-left) + " ago" : "SLA: " + duration(left) + " left";
  }

  function renderWaiting() {
    fill(el("waiting"), (state.waiting || []).map(function (w) {
      return h("li", { "data-intent": w.intent_id }, h("strong", {}, intentLink(w.intent_id, w.title)), h("span", { cls: "muted", text: " " + w.phase + " · waiting " + duration(w.waiting_seconds) }), h("div", { cls: "msg", text: w.reason }));
    }));
  }

  function renderEvents() {
    fill(el("events"), events.slice(0, 30).map(function (e) {
      var what = e.intent_id ? intentLink(e.intent_id, e.intent_title) : h("span", { text: e.executor_id || "" });
      var parts = e.intent_id ? [change(e.from_phase, e.to_phase), change(e.from_status, e.to_status)] : [];
      var p = e.payload || {};
      if (typeof p.progress === "number") parts.push(Math.round(p.progress * 100) + " %");
      if (p.message) parts.push("“" + p.message + "”");
      if (e.executor_id && e.intent_id) parts.push("by " + e.executor_id);
      return h("li", { "data-kind": e.kind, "data-intent": e.intent_id || "" }, h("time", { text: new Date(e.timestamp).toLocaleTimeString() }), h("span", { cls: "kind k-" + e.kind, text: e.kind }), what, h("span", { text: " " + parts.filter(Boolean).join(" · ") }));
    }));
  }

  var syncedAt = Date.now();
  function renderAll() {
    syncedAt = Date.now();
    renderTiles(); renderQueue(); renderWip(); renderExecutors(); renderReview(); renderWaiting(); renderEvents();
  }

  function setConnection(kind, text) {
    var node = el("connection");
    node.className = "conn conn-" + kind;
    node.dataset.state = kind;
    node.textContent = text;
  }

  function askSnapshot() {
    var wait = 1000 - (Date.now() - lastSnapshotAsk);
    if (snapshotTimer) return;
    snapshotTimer = setTimeout(function () {
      snapshotTimer = null;
      lastSnapshotAsk = Date.now();
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: "snapshot" }));
    }, Math.max(0, wait));
  }

  function applyEvents(list) {
    list.forEach(applyEvent);
    renderWip();
    renderEvents();
    askSnapshot();  // the aggregates (queue, tiles, executors) from the server, at most once a second
  }

  function applyEvent(e) {
    window.assemblyLine.events++;
    events.unshift(e);
    events = events.slice(0, 30);
    if (e.kind === "progress") {
      // The whole event: a progress report may come from a new phase and a new executor.
      var wip = state.work_in_progress = state.work_in_progress || [];
      var row = wip.filter(function (w) { return w.intent_id === e.intent_id; })[0];
      if (!row) {
        row = { intent_id: e.intent_id, title: e.intent_title || e.intent_id, attempts: 0 };
        wip.push(row);
      }
      row.progress = e.payload.progress; row.message = e.payload.message; row.status = e.to_status;
      row.phase = e.to_phase; row.executor_id = e.executor_id; row.stalled = false;
    } else if (e.kind === "stalled") {
      (state.work_in_progress || []).forEach(function (w) { if (w.intent_id === e.intent_id) w.stalled = true; });
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    setConnection("connecting", attempt ? "reconnecting…" : "connecting…");
    socket = new WebSocket(scheme + location.host + "/ws/assembly-line/?batch=1");
    socket.onopen = function () { attempt = 0; setConnection("live", "live"); };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.type === "snapshot") {
        state = data.state; events = (state.recent_events || []).slice();
        window.assemblyLine.snapshots++;
        renderAll();
      } else if (data.type === "event") {
        applyEvents([data.event]);
      } else if (data.type === "events") {  // several that came together (?batch=1)
        applyEvents(data.events);
      }
    };
    socket.onclose = function (close) {
      socket = null;
      if (close.code === 4401) { setConnection("lost", "not authorised — log in again"); return; }
      var delay = Math.min(15000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
      attempt++;
      reconnectAt = Date.now() + delay;
      setConnection("lost", "connection lost — reconnecting in " + Math.ceil(delay / 1000) + " s");
      setTimeout(connect, delay);
    };
  }

  setInterval(function () {
    document.querySelectorAll("#executors .age").forEach(function (cell) { cell.textContent = ago(cell.dataset.since); });
    document.querySelectorAll("#review .sla").forEach(function (cell) {
      var left = (Number(cell.dataset.deadline) - Date.now()) / 1000;
      cell.textContent = slaText(left);
      cell.parentNode.classList.toggle("overdue", left < 0);
    });
    if (socket === null && reconnectAt) {
      var s = Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000));
      setConnection("lost", "connection lost — reconnecting in " + s + " s");
    }
  }, 1000);
  // Statuses that change with time alone (an executor going offline): refresh now and then.
  setInterval(askSnapshot, 15000);

  renderAll();
  connect();
})();
