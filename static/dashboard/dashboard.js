/* sniperbot operator dashboard. Plain JS, no build step, no dependencies.
 *
 * One state object; each panel has a load (fetch) and a render function. Updates come from
 * the WebSocket push (/ws/dashboard/) when the server has a shared channel layer; otherwise,
 * or while the socket is down, the page polls every few seconds and says so.
 * Every piece of data is inserted with textContent / DOM nodes, never as HTML.
 */
(function () {
  "use strict";

  const CFG = JSON.parse(document.getElementById("dashboard-config").textContent);
  const EP = CFG.endpoints;
  const POLL_MS = CFG.pollIntervalMs || 3000;
  const SAFETY_STATUS_MS = 10000; // with push: a dead monitor publishes nothing, so still ask
  const SAFETY_RISK_MS = 30000; // rolling windows move without events
  const LATENCY_POLL_EVERY = 5; // polls between latency refreshes while polling
  const WS_BACKOFF_MAX_MS = 30000;
  const WS_PING_MS = 20000; // a socket that answers nothing for this long is treated as dead
  const TARGET_MS = 100;
  const STAGE_ORDER = ["persist", "dispatch", "risk", "operator_wait", "send", "ack", "total", "decision_to_ack"];
  // The latency table's rows: the bot-latency target (P99 under TARGET_MS) is on decision → ack;
  // the operator's wait is a human's time, in no other row.
  const TARGET_STAGE = "decision_to_ack";
  const STAGE_LABELS = {
    operator_wait: "operator wait (human)",
    total: "total (det→ack)",
    decision_to_ack: `decision → ack (target P99 < ${TARGET_MS})`,
  };
  const STAGE_TITLES = {
    operator_wait: "A confirmed trade's wait for its operator (risk done → confirmed): not the bot's time, left out of send and total",
    total: "Detection (or the decision, for manual trades) to the exchange's ack, the operator's wait left out",
    decision_to_ack: `The decision (or the operator's confirmation) to the exchange's ack: the target is P99 under ${TARGET_MS} ms; red above it`,
  };

  const state = {
    status: null,
    config: null,
    baseline: {}, // normalised server value of each config field, to find edits
    risk: null,
    listings: { page: 1, count: 0, next: false, previous: false, results: [], source: "", pageSize: CFG.pageSize || 0 },
    trades: { page: 1, count: 0, next: false, previous: false, results: [], pageSize: CFG.pageSize || 0 },
    tradeFilters: { mode: "", status: "", symbol: "" },
    awaiting: [],
    positions: { open: [], closed: [], closedCount: 0, closedCapped: false, openMore: false, pageSize: CFG.pageSize || 0, statuses: new Map() },
    pnl: null,
    knownTrades: new Map(), // id -> status, for toasts
    watermark: 0, // newest created_at (ms) of the first load
    toastTrails: new Map(), // trade id -> statuses shown in its toast
    seenListings: new Set(),
    errors: new Map(), // source -> message
    lastOk: new Map(), // source -> sequence number of its latest successful request
    lastRefresh: null,
  };

  const live = {
    ws: null,
    open: false,
    everOpened: false,
    retryMs: 1000,
    retryAt: null,
    pollTimer: null,
    pingTimer: null,
    lastMessageAt: 0,
    polls: 0,
    polling: false,
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function setText(id, text) {
    const node = $(id);
    if (node) node.textContent = text;
  }

  function badge(text, cls, title) {
    return el("span", { className: "badge " + (cls || ""), text, title });
  }

  function setBadge(id, text, cls, title) {
    const node = $(id);
    if (!node) return;
    node.textContent = text;
    node.className = "badge " + (cls || "");
    if (title) node.title = title;
    else node.removeAttribute("title");
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // ------------------------------------------------------------------ formatting

  const pad = (n, width) => String(n).padStart(width || 2, "0");

  function parseTime(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** Local time; today: HH:MM:SS.mmm, otherwise with the date. */
  function fmtTime(iso, withMs) {
    const d = parseTime(iso);
    if (!d) return iso ? String(iso) : "—";
    let t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (withMs !== false) t += "." + pad(d.getMilliseconds(), 3);
    if (d.toDateString() === new Date().toDateString()) return t;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
  }

  function fullTime(iso) {
    const d = parseTime(iso);
    if (!d) return "";
    const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(iso).slice(-12)}`;
    return `${local} local · ${iso}`;
  }

  function fmtDuration(ms) {
    const abs = Math.abs(ms);
    if (abs < 1000) return `${Math.round(abs)} ms`;
    if (abs < 60000) return `${(abs / 1000).toFixed(abs < 10000 ? 2 : 1)} s`;
    if (abs < 3600000) return `${Math.floor(abs / 60000)} min ${Math.round((abs % 60000) / 1000)} s`;
    if (abs < 86400000) return `${Math.floor(abs / 3600000)} h ${Math.round((abs % 3600000) / 60000)} min`;
    return `${Math.floor(abs / 86400000)} d ${Math.round((abs % 86400000) / 3600000)} h`;
  }

  function fmtAge(iso) {
    const d = parseTime(iso);
    if (!d) return "never";
    const ms = Date.now() - d.getTime();
    if (ms < -1000) return "in " + fmtDuration(ms);
    return fmtDuration(Math.max(ms, 0)) + " ago";
  }

  /** Detection delay: detected_at - listed_at. Negative: seen before the open. */
  function fmtDelay(listedAt, detectedAt) {
    const a = parseTime(listedAt);
    const b = parseTime(detectedAt);
    if (!a || !b) return { text: "—", cls: "" };
    const ms = b.getTime() - a.getTime();
    if (ms < 0) return { text: `−${fmtDuration(ms)}`, cls: "delay-early", title: "Detected before the open" };
    const cls = ms <= 1000 ? "delay-fast" : ms <= 5000 ? "delay-ok" : "delay-slow";
    return { text: `+${fmtDuration(ms)}`, cls, title: "Detected after the open" };
  }

  function fmtMs(value) {
    if (value === null || value === undefined || value === "") return "—";
    const v = Number(value);
    if (!Number.isFinite(v)) return String(value);
    if (v < 10) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    return String(Math.round(v));
  }

  /** "100.00000000" -> "100"; leaves anything that is not a plain decimal alone. */
  function trimDecimal(value) {
    if (value === null || value === undefined) return "";
    const s = String(value).trim();
    if (!/^[+-]?\d+\.\d+$/.test(s)) return s;
    return s.replace(/0+$/, "").replace(/\.$/, "");
  }

  /** A quantity or price to `sig` significant digits (at most 12 decimals), trailing zeros
   *  trimmed: 1161.37925729828 -> "1161.38", 0.017203682496 -> "0.0172037". */
  function fmtSig(value, sig = 6) {
    if (value === null || value === undefined || value === "") return "—";
    const v = Number(value);
    if (!Number.isFinite(v)) return String(value);
    if (v === 0) return "0";
    const digits = Math.max(0, sig - 1 - Math.floor(Math.log10(Math.abs(v))));
    return trimDecimal(v.toFixed(Math.min(digits, 12)));
  }

  /** A quantity or price to the symbol's own precision when the trade knows it (`decimals`,
   *  from exchangeInfo when the order was made), else to 6 significant digits. */
  function fmtAt(value, decimals) {
    if (value === null || value === undefined || value === "") return "—";
    if (!Number.isInteger(decimals)) return fmtSig(value);
    const v = Number(value);
    return Number.isFinite(v) ? v.toFixed(Math.min(decimals, 18)) : String(value);
  }

  function fmtMoney(value) {
    if (value === null || value === undefined || value === "") return "—";
    return trimDecimal(value);
  }

  function pct(ratio) {
    if (!Number.isFinite(ratio)) return "—";
    const p = ratio * 100;
    return (p < 10 ? p.toFixed(1) : Math.round(p)) + " %";
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, data, message) {
      super(message);
      this.status = status;
      this.data = data;
    }
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function flattenErrors(value) {
    if (value === null || value === undefined) return [];
    if (typeof value === "string") return [value];
    if (Array.isArray(value)) return value.flatMap(flattenErrors);
    if (typeof value === "object") {
      return Object.entries(value).flatMap(([k, v]) =>
        flattenErrors(v).map((msg) => (/^\d+$/.test(k) ? `item ${Number(k) + 1}: ${msg}` : msg))
      );
    }
    return [String(value)];
  }

  function describeError(res, data) {
    const head = `${res.status} ${res.statusText || ""}`.trim();
    if (data && typeof data === "object") {
      if (data.detail) return `${head}: ${flattenErrors(data.detail).join(" ")}`;
      const parts = Object.entries(data).map(([k, v]) => `${k}: ${flattenErrors(v).join(" ")}`);
      if (parts.length) return `${head}: ${parts.join("; ")}`;
    }
    if (res.status === 401 || res.status === 403) return `${head}: not allowed (session expired? reload the page).`;
    if (typeof data === "string" && data && data.length < 200) return `${head}: ${data}`;
    return head;
  }

  async function api(method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRFToken"] = csrfToken();
      opts.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(url, opts);
    } catch (err) {
      throw new ApiError(0, null, `Network error (${err.message}): the server did not answer.`);
    }
    const type = res.headers.get("Content-Type") || "";
    let data = null;
    if (type.includes("json")) {
      try {
        data = await res.json();
      } catch (err) {
        data = null;
      }
    } else if (type.includes("text/html") && res.ok) {
      // login_required redirected us to the login page: the session is gone.
      throw new ApiError(401, null, "Your session has expired: reload the page and log in again.");
    } else {
      data = await res.text().catch(() => "");
    }
    if (!res.ok) throw new ApiError(res.status, data, describeError(res, data));
    return data;
  }

  function withQuery(url, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== "" && v !== null && v !== undefined) q.set(k, v);
    }
    const s = q.toString();
    return s ? `${url}?${s}` : url;
  }

  const tradeUrl = (template, id) => template.replace("{id}", encodeURIComponent(id));

  // ------------------------------------------------------------------ toasts and errors

  /** Show a toast; with a key, an existing toast for the same thing is updated instead. */
  function toast(text, kind, timeoutMs, key) {
    const box = $("toasts");
    const k = kind || "info";
    let node = key ? box.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
    if (node) {
      node.querySelector(".toast-text").textContent = text;
      node.className = "toast toast-" + k;
      node.dataset.kind = k;
      clearTimeout(Number(node.dataset.timer));
      box.prepend(node);
    } else {
      node = el(
        "div",
        { className: "toast toast-" + k, dataset: { testid: "toast", kind: k, key: key || "" }, role: k === "error" ? "alert" : "status" },
        el("span", { className: "toast-text", text }),
        el("button", { type: "button", className: "toast-close", "aria-label": "Dismiss", text: "×" })
      );
      node.lastElementChild.addEventListener("click", () => node.remove());
      box.prepend(node);
    }
    while (box.children.length > 3) box.lastElementChild.remove(); // in the page's flow: short
    const ms = timeoutMs || (k === "error" ? 15000 : 8000);
    node.dataset.timer = String(setTimeout(() => node.remove(), ms));
  }

  function recordError(source, err) {
    if (err) state.errors.set(source, err.message || String(err));
    else state.errors.delete(source);
    const banner = $("api-error");
    if (!state.errors.size) {
      banner.hidden = true;
      banner.textContent = "";
      return;
    }
    const lines = [...state.errors.entries()].map(([src, msg]) => `${src}: ${msg}`);
    banner.textContent = `Data may be stale. Could not refresh — ${lines.join(" · ")}`;
    banner.hidden = false;
  }

  /** Run one loader; remember its failure in the banner instead of throwing. A failure of
   *  a request that started before a later success (a race after reconnecting) is ignored. */
  async function guarded(source, fn) {
    const started = ++guardedSeq;
    try {
      await fn();
      state.lastOk.set(source, Math.max(started, state.lastOk.get(source) || 0));
      recordError(source, null);
      return true;
    } catch (err) {
      if ((state.lastOk.get(source) || 0) < started) recordError(source, err);
      return false;
    }
  }
  let guardedSeq = 0;

  async function withBusy(button, fn) {
    if (button) button.disabled = true;
    try {
      return await fn();
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ bot status

  async function loadStatus() {
    renderStatus(await api("GET", EP.monitor_status));
  }

  function actualDescription(s) {
    const hb = s.heartbeat_at ? `heartbeat ${fmtAge(s.heartbeat_at)}` : "no heartbeat yet";
    if (s.desired_state === "running") {
      if (s.actual_state === "running" && s.monitor_alive) return { text: `actual: running · ${hb}`, cls: "ok", age: true };
      if (!s.monitor_alive) return { text: `actual: ${s.actual_state} — monitor process not alive (${hb}); start run_monitor`, cls: "bad", age: true };
      return { text: `actual: ${s.actual_state} — waiting for the monitor to start (${hb})`, cls: "warn", age: true };
    }
    if (s.actual_state === "running") return { text: `actual: still running — stopping (${hb})`, cls: "warn", age: true };
    return { text: `actual: ${s.actual_state}`, cls: "muted", age: false };
  }

  function renderStatus(s) {
    state.status = s;
    const desired = s.desired_state || "stopped";
    setBadge("bot-state", desired, desired === "running" ? "state-running" : "state-stopped", "What operators asked for (desired state)");
    const actual = actualDescription(s);
    const actualNode = $("bot-actual");
    actualNode.textContent = actual.text;
    actualNode.className = "small " + actual.cls;
    if (actual.age && s.heartbeat_at) actualNode.dataset.statusAge = "1";
    else delete actualNode.dataset.statusAge;

    const who = [];
    if (s.run_id) setText("status-run", `run #${s.run_id}`);
    if (s.started_by) who.push(`started by ${s.started_by}`);
    if (s.stopped_by) who.push(`stopped by ${s.stopped_by}`);
    setText("status-who", who.join(" · "));

    const start = $("start-bot");
    const stop = $("stop-bot");
    // The button for the state already asked for is off: one can only ask for the other.
    if (start) {
      start.disabled = desired === "running";
      start.title = start.disabled ? "Monitoring is already asked to run." : "";
    }
    if (stop) {
      stop.disabled = desired === "stopped";
      stop.title = stop.disabled ? "Monitoring is already stopped (or asked to stop)." : "";
    }
    // A "requested" notice stays only until the monitor has done what was asked.
    const notice = $("bot-action-status");
    if (notice && notice.dataset.pending && (s.actual_state || "stopped") === desired) {
      notice.textContent = "";
      delete notice.dataset.pending;
    }
    renderComponents(s);
  }

  function renderComponents(s) {
    const rows = [];
    rows.push(
      componentRow("monitor loop", s.monitor_alive ? "ok" : "down", s.heartbeat_at, s.monitor_alive ? "heartbeat fresh" : "no fresh heartbeat")
    );
    const comps = s.components || {};
    for (const name of Object.keys(comps).sort()) {
      const c = comps[name] || {};
      rows.push(componentRow(name, c.status, c.last_event_at, detailText(c.detail)));
    }
    $("components-body").replaceChildren(...rows);
  }

  /** A component's detail in words: {"mode": "websocket", "rest_errors": 0} ->
   *  "mode websocket · rest errors 0"; a lone {"detail": "…"} is its text. */
  function detailText(detail) {
    if (detail === null || detail === undefined || detail === "") return "";
    if (typeof detail !== "object") return String(detail);
    if (Array.isArray(detail)) return detail.map(detailText).join(", ");
    const entries = Object.entries(detail).filter(([, v]) => v !== null && v !== undefined && v !== "");
    if (entries.length === 1 && entries[0][0] === "detail") return detailText(entries[0][1]);
    return entries
      .map(([k, v]) => {
        const words = k.replaceAll("_", " ");
        if (typeof v === "boolean") return v ? words : `no ${words}`;
        if (typeof v === "object") return `${words}: ${detailText(v)}`;
        return `${words} ${typeof v === "number" ? fmtSig(v) : v}`;
      })
      .join(" · ");
  }

  function componentRow(name, status, lastEventAt, detail) {
    const st = status || "unknown";
    const short = detail.length > 60 ? detail.slice(0, 57) + "…" : detail;
    return el(
      "tr",
      { dataset: { component: name, status: st } },
      el("td", { text: name }),
      el("td", {}, badge(st, "health-" + st)),
      el("td", { text: lastEventAt ? fmtAge(lastEventAt) : "—", title: fullTime(lastEventAt), dataset: lastEventAt ? { ageOf: lastEventAt } : {} }),
      el("td", { className: "detail", text: short, title: detail })
    );
  }

  async function botAction(which, button) {
    const status = $("bot-action-status");
    status.className = "action-status small";
    status.textContent = which === "start" ? "Asking the monitor to start…" : "Asking the monitor to stop…";
    try {
      const s = await withBusy(button, () => api("POST", which === "start" ? EP.monitor_start : EP.monitor_stop));
      status.textContent = `${which === "start" ? "Start" : "Stop"} requested at ${fmtTime(new Date().toISOString(), false)}; the monitor honours it within seconds.`;
      status.dataset.pending = which;
      renderStatus(s);
    } catch (err) {
      status.className = "action-status small bad";
      status.textContent = `Could not ${which}: ${err.message}`;
      toast(`Could not ${which} the bot: ${err.message}`, "error");
    }
  }

  // ------------------------------------------------------------------ trading badges (config + risk)

  function renderTradingBadges() {
    const c = state.config || state.risk;
    if (!c) return;
    const isLive = c.mode === "live";
    setBadge("st-mode", isLive ? "LIVE" : "dry run", isLive ? "mode-live" : "mode-dry", "Trading mode");
    setBadge("st-auto", c.auto_trade ? "auto-trade ON" : "auto-trade off", c.auto_trade ? "auto-on" : "auto-off");
    $("st-kill").hidden = !c.kill_switch;
    const eff = $("effective");
    let text;
    let cls;
    if (c.kill_switch) {
      text = "Kill switch ON: every trade is refused.";
      cls = "bad";
    } else if (!c.auto_trade) {
      text = "Auto-trade off: new listings are only simulated (dry run); nothing live is sent.";
      cls = "muted";
    } else if (!isLive) {
      text = "Auto-trade on, dry run: eligible new listings are traded with simulated fills.";
      cls = "warn";
    } else {
      const amount = state.config ? ` (${fmtMoney(state.config.snipe_quote_usdt)} ${state.config.quote_asset} per snipe)` : "";
      text = `LIVE: eligible new listings are bought with real money${amount}.`;
      cls = "live";
    }
    eff.textContent = text;
    eff.className = "effective small " + cls;
  }

  // ------------------------------------------------------------------ risk

  async function loadRisk() {
    renderRisk(await api("GET", EP.risk_metrics));
  }

  const refreshRiskSoon = debounce(() => guarded("risk metrics", loadRisk), 400);

  function setMeter(barId, textId, value, limit, text) {
    const ratio = limit > 0 ? value / limit : 0;
    const bar = $(barId);
    bar.style.width = `${Math.min(Math.max(ratio, 0), 1) * 100}%`;
    bar.className = "bar-fill " + (ratio >= 1 ? "fill-bad" : ratio >= 0.8 ? "fill-warn" : "fill-ok");
    setText(textId, text);
  }

  function renderRisk(r) {
    state.risk = r;
    const exposure = Number(r.exposure_24h);
    const limit = Number(r.max_position_usdt);
    const ratio = Number.isFinite(r.exposure_ratio) ? r.exposure_ratio : limit > 0 ? exposure / limit : 0;
    const quote = (state.config && state.config.quote_asset) || "USDT";
    setMeter("exposure-bar", "exposure-text", ratio, 1, `${fmtMoney(r.exposure_24h)} / ${fmtMoney(r.max_position_usdt)} ${quote} · ${pct(ratio)}`);
    setMeter("trades-hour-bar", "trades-hour-text", r.trades_last_hour, r.max_trades_per_hour, `${r.trades_last_hour} / ${r.max_trades_per_hour}`);
    setMeter("in-flight-bar", "in-flight-text", r.in_flight, r.max_in_flight, `${r.in_flight} / ${r.max_in_flight}`);

    const breaker = (r.breaker && r.breaker.state) || "unknown";
    const breakerCls = breaker === "closed" ? "health-ok" : breaker === "open" ? "health-down" : "health-degraded";
    setBadge("breaker", breaker === "open" ? "OPEN" : breaker.replaceAll("_", "-"), breakerCls, breakerTitle(r.breaker));
    setBadge("kill-switch", r.kill_switch ? "ON" : "off", r.kill_switch ? "health-down" : "health-ok");

    const breaches = r.breaches || [];
    const breachNode = $("breaches");
    breachNode.replaceChildren(...(breaches.length ? breaches.map((b) => badge(b, "health-down")) : [badge("none", "health-ok")]));

    const rej = Object.entries(r.rejections_24h || {}).sort((a, b) => b[1] - a[1]);
    $("rejections").replaceChildren(...(rej.length ? rej.map(([k, n]) => el("li", { className: "chip", text: `${k}: ${n}` })) : [el("li", { className: "muted", text: "none" })]));
    setText("risk-mode", r.mode ? `mode ${r.mode}` : "");
    renderBanner();
    if (!state.config) renderTradingBadges();
  }

  function breakerTitle(breaker) {
    if (!breaker) return "";
    return Object.entries(breaker)
      .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
      .join("\n");
  }

  function renderBanner() {
    const r = state.risk;
    const reasons = [];
    if (r) {
      if ((r.breaches || []).length) reasons.push(`Limit breached: ${r.breaches.join(", ")}`);
      if (r.breaker && r.breaker.state === "open") reasons.push("Circuit breaker OPEN: orders are not being sent");
    }
    const kill = (state.config && state.config.kill_switch) || (r && r.kill_switch);
    if (kill) reasons.push("Kill switch ON: every trade is refused");
    const banner = $("risk-banner");
    banner.textContent = reasons.length ? "⚠ " + reasons.join(" · ") : "";
    banner.hidden = reasons.length === 0;
    document.body.classList.toggle("risk-alert", reasons.length > 0);
  }

  // ------------------------------------------------------------------ listings

  async function loadListings() {
    const l = state.listings;
    const data = await api("GET", withQuery(EP.listings, { page: l.page, source: l.source }));
    const fresh = new Set();
    for (const item of data.results) {
      if (state.seenListings.size && !state.seenListings.has(item.id)) fresh.add(item.id);
    }
    for (const item of data.results) state.seenListings.add(item.id);
    Object.assign(l, { count: data.count, capped: !!data.count_capped, next: !!data.next, previous: !!data.previous, results: data.results });
    if (data.next && data.results.length) l.pageSize = data.results.length;
    renderListings(fresh);
  }

  function listingRow(item, isNew) {
    const delay = fmtDelay(item.listed_at, item.detected_at);
    return el(
      "tr",
      { className: isNew ? "row-new" : "", dataset: { testid: "listing-row", symbol: item.symbol, id: item.id, source: item.source } },
      el("td", { className: "sym" }, item.symbol, item.delisted_at ? badge("delisted", "badge-muted", `Delisted ${fullTime(item.delisted_at)}`) : null),
      el("td", { className: "time", text: fmtTime(item.listed_at), title: fullTime(item.listed_at) }),
      el("td", { className: "time", text: fmtTime(item.detected_at), title: fullTime(item.detected_at) }),
      el("td", { className: "num " + delay.cls, text: delay.text, title: delay.title }),
      el("td", {}, badge(item.source, "src src-" + item.source))
    );
  }

  function renderListings(fresh) {
    const l = state.listings;
    $("listings-body").replaceChildren(...l.results.map((item) => listingRow(item, fresh && fresh.has(item.id))));
    $("listings-empty").hidden = l.results.length > 0;
    setText("listings-count", countText(l));
    setText("listings-page", pageText(l));
    $("listings-prev").disabled = !l.previous;
    $("listings-next").disabled = !l.next;
  }

  /** After a pushed row was prepended to page 1: keep one page, and an "older" page exists. */
  function trimToPage(p) {
    if (!p.pageSize || p.results.length <= p.pageSize) return;
    p.results.length = p.pageSize;
    p.next = true;
  }

  /** The API counts at most 10,000 rows (a full count of a year's table is too slow). */
  function countText(p) {
    if (!p.count) return "";
    return p.capped ? `${p.count}+` : String(p.count);
  }

  function pageText(p) {
    if (!p.count) return "";
    if (p.capped) return `page ${p.page} · ${p.count}+ total`;
    const size = p.pageSize || p.results.length || 1;
    const pages = Math.max(1, Math.ceil(p.count / size));
    return `page ${p.page} of ${pages} · ${p.count} total`;
  }

  function upsertListing(item) {
    const l = state.listings;
    const isNew = !state.seenListings.has(item.id);
    state.seenListings.add(item.id);
    const idx = l.results.findIndex((x) => x.id === item.id);
    if (idx >= 0) l.results[idx] = item;
    else if (l.page === 1 && (!l.source || l.source === item.source)) {
      l.results.unshift(item);
      l.count += 1;
      trimToPage(l);
    } else return;
    renderListings(isNew ? new Set([item.id]) : null);
  }

  // ------------------------------------------------------------------ trades

  async function loadTrades(silent) {
    const t = state.trades;
    const data = await api("GET", withQuery(EP.trades, { page: t.page, ...state.tradeFilters }));
    for (const trade of data.results) noteTrade(trade, silent);
    Object.assign(t, { count: data.count, capped: !!data.count_capped, next: !!data.next, previous: !!data.previous, results: data.results });
    if (data.next && data.results.length) t.pageSize = data.results.length;
    renderTrades();
  }

  /** Remember a trade's status; toast new trades and status changes.
   *  "New" means unseen and created after the newest trade of the first load (server clock),
   *  so paging back through history toasts nothing. */
  function noteTrade(trade, silent) {
    const prev = state.knownTrades.get(trade.id);
    state.knownTrades.set(trade.id, trade.status);
    const created = parseTime(trade.created_at);
    const createdMs = created ? created.getTime() : 0;
    if (silent) {
      state.watermark = Math.max(state.watermark, createdMs);
      return;
    }
    const isNew = prev === undefined && createdMs >= state.watermark;
    if (!isNew && (prev === undefined || prev === trade.status)) return;
    // One toast per trade, showing its path: "pending → submitted → filled".
    const trail = state.toastTrails.get(trade.id) || (isNew ? [] : [prev]);
    trail.push(trade.status);
    state.toastTrails.set(trade.id, trail);
    const why = trade.reason_code ? ` (${trade.reason_code})` : "";
    const head = `${trail.length > 1 || !isNew ? "Trade" : "New trade"} #${trade.id} ${trade.symbol} ${fmtMoney(trade.quote_qty)} · ${trade.mode}`;
    toast(`${head}: ${trail.join(" → ")}${why}`, toastKind(trade.status), null, `trade-${trade.id}`);
  }

  function toastKind(status) {
    if (status === "filled" || status === "partially_filled") return "good";
    if (status === "rejected" || status === "failed" || status === "unknown") return "bad";
    if (status === "awaiting_confirmation") return "warn";
    return "info";
  }

  function matchesFilters(trade) {
    const f = state.tradeFilters;
    if (f.mode && trade.mode !== f.mode) return false;
    if (f.status && trade.status !== f.status) return false;
    if (f.symbol && trade.symbol.toUpperCase() !== f.symbol.toUpperCase()) return false;
    return true;
  }

  function isOlder(incoming, existing) {
    const a = parseTime(incoming.updated_at);
    const b = parseTime(existing.updated_at);
    return a && b && a.getTime() < b.getTime();
  }

  /** A trade from the push or from one of our own requests. */
  function upsertTrade(trade) {
    const t = state.trades;
    const idx = t.results.findIndex((x) => x.id === trade.id);
    if (idx >= 0 && isOlder(trade, t.results[idx])) return; // out-of-order push
    noteTrade(trade, false);
    if (idx >= 0) t.results[idx] = trade;
    else if (t.page === 1 && matchesFilters(trade)) {
      t.results.unshift(trade);
      t.count += 1;
      trimToPage(t);
    }
    renderTrades(trade.id);
    upsertAwaiting(trade);
    refreshRiskSoon();
    refreshLatencySoon();
  }

  function latencyTitle(trade) {
    const lat = trade.latency_ms || {};
    const parts = STAGE_ORDER.filter((k) => k in lat).map((k) => `${k} ${fmtMs(lat[k])}`);
    return parts.length ? `ms: ${parts.join(" · ")}` : "";
  }

  function latencyCell(value, title, label) {
    const v = value === null || value === undefined ? null : Number(value);
    const cls = v === null ? "muted" : v > TARGET_MS ? "lat-slow" : "lat-ok";
    return el("td", { className: "num " + cls, dataset: { label: label || "" }, text: fmtMs(v), title });
  }

  function tradeRow(trade, flashId) {
    const lat = trade.latency_ms || {};
    const spent = trade.quote_spent && Number(trade.quote_spent) ? `spent ${fmtMoney(trade.quote_spent)}` : "";
    const fill = trade.executed_qty && Number(trade.executed_qty) ? `${fmtAt(trade.executed_qty, trade.qty_decimals)} @ ${fmtAt(trade.avg_price, trade.price_decimals)}` : "—";
    const fillTitle = trade.executed_qty && Number(trade.executed_qty) ? `${trimDecimal(trade.executed_qty)} @ ${trimDecimal(trade.avg_price)}` : "";
    const reasonTitle = [trade.error_message, trade.client_order_id && `client id ${trade.client_order_id}`, trade.exchange_order_id && `exchange id ${trade.exchange_order_id}`, trade.attempts > 1 ? `${trade.attempts} attempts` : ""]
      .filter(Boolean)
      .join("\n");
    const who = trade.manual ? `manual${trade.requested_by ? " by " + trade.requested_by : ""}` : "auto";
    return el(
      "tr",
      {
        className: trade.id === flashId ? "row-new" : "",
        dataset: { testid: "trade-row", id: trade.id, symbol: trade.symbol, status: trade.status, mode: trade.mode },
      },
      el("td", { className: "time", dataset: { label: "Created" }, text: fmtTime(trade.created_at), title: `${fullTime(trade.created_at)}\n#${trade.id} · ${who}${trade.confirmed_by ? " · confirmed by " + trade.confirmed_by : ""}` }),
      el("td", { className: "sym", dataset: { label: "Symbol" } }, trade.symbol, trade.manual ? badge("manual", "badge-muted", who) : null),
      el("td", { dataset: { label: "Status" } }, badge(trade.status.replaceAll("_", " "), "st st-" + trade.status)),
      el("td", { dataset: { label: "Mode" } }, badge(trade.mode === "live" ? "LIVE" : "dry", trade.mode === "live" ? "mode-live" : "mode-dry")),
      el("td", { className: "num", dataset: { label: "Quote" } }, fmtMoney(trade.quote_qty), spent ? el("div", { className: "sub", text: spent }) : null),
      el("td", { className: "num", dataset: { label: "Fill" }, text: fill, title: fillTitle }),
      latencyCell(lat.total, latencyTitle(trade), "Det→ack"),
      latencyCell(trade.decision_to_ack_ms, "decision → ack ms", "Dec→ack"),
      el("td", { className: "reason", dataset: { label: "Reason" }, title: reasonTitle }, trade.reason_code || (trade.error_message ? "error" : "—"), trade.error_message ? el("div", { className: "sub bad", text: trade.error_message.slice(0, 80) }) : null),
      el("td", { className: "num muted", dataset: { label: "Cfg" }, text: trade.config_version !== null && trade.config_version !== undefined ? `v${trade.config_version}` : "—" })
    );
  }

  function renderTrades(flashId) {
    const t = state.trades;
    $("trades-body").replaceChildren(...t.results.map((trade) => tradeRow(trade, flashId)));
    $("trades-empty").hidden = t.results.length > 0;
    setText("trades-count", countText(t));
    setText("trades-page", pageText(t));
    $("trades-prev").disabled = !t.previous;
    $("trades-next").disabled = !t.next;
  }

  function readTradeFilters() {
    const form = $("trade-filters");
    state.tradeFilters = {
      mode: form.elements.filter_mode.value,
      status: form.elements.filter_status.value,
      symbol: form.elements.filter_symbol.value.trim().toUpperCase(),
    };
    state.trades.page = 1;
    guarded("trades", () => loadTrades(true));
  }

  // ------------------------------------------------------------------ awaiting confirmation

  async function loadAwaiting(silent) {
    const data = await api("GET", withQuery(EP.trades, { status: "awaiting_confirmation" }));
    for (const trade of data.results) noteTrade(trade, silent);
    state.awaiting = data.results;
    renderAwaiting();
  }

  function upsertAwaiting(trade) {
    const idx = state.awaiting.findIndex((x) => x.id === trade.id);
    if (trade.status === "awaiting_confirmation") {
      if (idx >= 0) state.awaiting[idx] = trade;
      else state.awaiting.unshift(trade);
    } else if (idx >= 0) state.awaiting.splice(idx, 1);
    else return;
    renderAwaiting();
  }

  function awaitingItem(trade) {
    const buttons = CFG.canWrite
      ? el(
          "div",
          { className: "actions" },
          el("button", {
            type: "button",
            className: "btn btn-go btn-small",
            dataset: { testid: "confirm-trade", id: trade.id },
            text: `Confirm ${trade.mode === "live" ? "LIVE " : ""}buy ${fmtMoney(trade.quote_qty)}`,
            onclick: (ev) => decideTrade(trade, "confirm", ev.currentTarget),
          }),
          el("button", {
            type: "button",
            className: "btn btn-stop btn-small",
            dataset: { testid: "cancel-trade", id: trade.id },
            text: "Cancel",
            onclick: (ev) => decideTrade(trade, "cancel", ev.currentTarget),
          })
        )
      : null;
    return el(
      "li",
      { className: "awaiting-item", dataset: { testid: "awaiting-row", id: trade.id, symbol: trade.symbol, mode: trade.mode } },
      el(
        "div",
        { className: "awaiting-main" },
        el("strong", { text: trade.symbol }),
        " ",
        badge(trade.mode === "live" ? "LIVE" : "dry", trade.mode === "live" ? "mode-live" : "mode-dry"),
        ` ${fmtMoney(trade.quote_qty)} · #${trade.id} · ${fmtTime(trade.created_at)}`,
        trade.requested_by ? ` · by ${trade.requested_by}` : ""
      ),
      el("div", { className: "small muted", dataset: trade.expires_at ? { expiresAt: trade.expires_at } : {}, text: expiryText(trade.expires_at) }),
      buttons
    );
  }

  function expiryText(iso) {
    const d = parseTime(iso);
    if (!d) return "no expiry";
    const ms = d.getTime() - Date.now();
    return ms > 0 ? `expires in ${fmtDuration(ms)} (${fmtTime(iso, false)})` : `expired ${fmtDuration(ms)} ago`;
  }

  function renderAwaiting() {
    $("awaiting-list").replaceChildren(...state.awaiting.map(awaitingItem));
    $("awaiting-empty").hidden = state.awaiting.length > 0;
    const count = $("awaiting-count");
    count.textContent = String(state.awaiting.length);
    count.classList.toggle("count-alert", state.awaiting.length > 0);
  }

  async function decideTrade(trade, action, button) {
    const url = tradeUrl(action === "confirm" ? EP.trade_confirm : EP.trade_cancel, trade.id);
    try {
      const result = await withBusy(button, () => api("POST", url));
      upsertTrade(result); // its toast shows the new status
    } catch (err) {
      toast(`Could not ${action} trade #${trade.id} ${trade.symbol}: ${err.message}`, "error");
      guarded("awaiting", () => loadAwaiting(false));
    }
  }

  // ------------------------------------------------------------------ latency

  async function loadLatency() {
    const win = $("latency-window").value;
    renderLatency(await api("GET", withQuery(EP.latency, { window: win })));
  }

  const refreshLatencySoon = debounce(() => guarded("latency", loadLatency), 2000);

  function renderLatency(data) {
    const rate = Number.isFinite(data.error_rate) ? pct(data.error_rate) : "—";
    setText("latency-summary", `${data.count} trades in ${data.window} · ${data.errors} errors (${rate})`);
    renderHistogram(data.histogram || []);
    const stages = data.stages || {};
    const names = [...STAGE_ORDER.filter((n) => n in stages), ...Object.keys(stages).filter((n) => !STAGE_ORDER.includes(n)).sort()];
    const rows = names.map((name) => {
      const s = stages[name] || {};
      const slow = (v) => (name === TARGET_STAGE && Number(v) > TARGET_MS ? "num lat-slow" : "num");
      return el(
        "tr",
        { className: name === TARGET_STAGE ? "lat-target" : name === "operator_wait" ? "lat-human" : "", dataset: { stage: name } },
        el("td", { text: STAGE_LABELS[name] || name, title: STAGE_TITLES[name] || "" }),
        el("td", { className: "num", text: s.count ?? "—", title: `n = ${s.count ?? 0} trades reached this stage` }),
        el("td", { className: slow(s.p50), text: fmtMs(s.p50) }),
        el("td", { className: slow(s.p95), text: fmtMs(s.p95) }),
        el("td", { className: slow(s.p99), text: fmtMs(s.p99) }),
        el("td", { className: slow(s.max), text: fmtMs(s.max) })
      );
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 6, className: "muted", text: "No data in this window." })));
    $("latency-body").replaceChildren(...rows);
  }

  function bucketLabel(b, prev) {
    if (b.le_ms === null || b.le_ms === undefined) return prev ? `>${fmtMs(prev.le_ms)}` : "all";
    return `≤${fmtMs(b.le_ms)}`;
  }

  /** Bar chart of the detection→ack histogram, drawn as SVG. Buckets over 100 ms are red. */
  function renderHistogram(hist) {
    const box = $("latency-chart");
    const total = hist.reduce((sum, b) => sum + (b.count || 0), 0);
    if (!hist.length || !total) {
      const text = hist.length ? "No trade in this window reached the exchange's ack." : "No trades in this window.";
      box.replaceChildren(el("p", { className: "muted small", text }));
      return;
    }
    const W = 520;
    const H = 170;
    const pad = { l: 34, r: 6, t: 14, b: 30 };
    const plotW = W - pad.l - pad.r;
    const plotH = H - pad.t - pad.b;
    const max = Math.max(...hist.map((b) => b.count || 0), 1);
    const bw = plotW / hist.length;
    const labelEvery = Math.ceil(hist.length / 12);
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "histogram", "aria-hidden": "true" });

    svg.append(svgEl("line", { x1: pad.l, y1: pad.t + plotH, x2: W - pad.r, y2: pad.t + plotH, class: "axis" }));
    svg.append(svgEl("text", { x: pad.l - 4, y: pad.t + 4, class: "tick", "text-anchor": "end" }, max));
    svg.append(svgEl("text", { x: pad.l - 4, y: pad.t + plotH, class: "tick", "text-anchor": "end" }, 0));

    hist.forEach((b, i) => {
      const count = b.count || 0;
      const h = (count / max) * plotH;
      const x = pad.l + i * bw;
      const slow = b.le_ms === null || b.le_ms === undefined || b.le_ms > TARGET_MS;
      const label = bucketLabel(b, hist[i - 1]);
      const rect = svgEl("rect", { x: x + 1, y: pad.t + plotH - h, width: Math.max(bw - 2, 1), height: Math.max(h, count ? 1 : 0), class: slow ? "bar-slow" : "bar-ok" });
      rect.append(svgEl("title", {}, `${label} ms: ${count} (${pct(count / total)})`));
      svg.append(rect);
      if (count) svg.append(svgEl("text", { x: x + bw / 2, y: pad.t + plotH - h - 3, class: "val", "text-anchor": "middle" }, count));
      if (i % labelEvery === 0 || i === hist.length - 1) {
        svg.append(svgEl("text", { x: x + bw / 2, y: H - pad.b + 13, class: "tick", "text-anchor": "middle" }, label));
      }
      const next = hist[i + 1];
      if (b.le_ms !== null && b.le_ms <= TARGET_MS && next && (next.le_ms === null || next.le_ms > TARGET_MS)) {
        const lx = x + bw;
        svg.append(svgEl("line", { x1: lx, y1: pad.t - 6, x2: lx, y2: pad.t + plotH, class: "target" }));
        svg.append(svgEl("text", { x: lx + 3, y: pad.t - 2, class: "tick target-label" }, `${TARGET_MS} ms target`));
      }
    });
    svg.append(svgEl("text", { x: pad.l + plotW / 2, y: H - 3, class: "tick", "text-anchor": "middle" }, "detection → ack (ms)"));
    box.replaceChildren(svg);
  }

  // ------------------------------------------------------------------ positions and P&L

  async function loadPositions() {
    const p = state.positions;
    const [open, closed] = await Promise.all([
      api("GET", `${EP.positions}?status=open&status=closing`),
      api("GET", withQuery(EP.positions, { status: "closed" })),
    ]);
    Object.assign(p, { open: open.results, closed: closed.results, closedCount: closed.count, closedCapped: !!closed.count_capped, openMore: !!open.next });
    if (closed.next && closed.results.length) p.pageSize = closed.results.length;
    for (const item of [...p.open, ...p.closed]) p.statuses.set(item.id, item.status);
    renderPositions();
  }

  async function loadPnl() {
    renderPnl(await api("GET", withQuery(EP.pnl_summary, { window: "24h" })));
  }

  const refreshPnlSoon = debounce(() => guarded("P&L", loadPnl), 400);

  const byTimeDesc = (field) => (a, b) => (parseTime(b[field]) || 0) - (parseTime(a[field]) || 0) || b.id - a.id;

  /** A position from the push or from our own close: upsert it, moved between the open and
   *  the closed lists by its status. Closed is final: an older push never reopens it. */
  function upsertPosition(item) {
    const p = state.positions;
    const prev = p.statuses.get(item.id);
    if (prev === "closed" && item.status !== "closed") return;
    p.statuses.set(item.id, item.status);
    p.open = p.open.filter((x) => x.id !== item.id);
    if (item.status === "closed") {
      const idx = p.closed.findIndex((x) => x.id === item.id);
      if (idx >= 0) p.closed[idx] = item;
      else {
        p.closed.unshift(item);
        p.closed.sort(byTimeDesc("closed_at"));
        p.closedCount += 1;
        if (p.pageSize && p.closed.length > p.pageSize) p.closed.length = p.pageSize;
      }
      if (prev !== undefined && prev !== "closed") {
        const pnl = Number(item.realized_pnl);
        toast(`Position #${item.id} ${item.symbol} (${modeLabel(item.mode)}) closed${item.exit_reason ? " · " + item.exit_reason.replaceAll("_", " ") : ""}: realized ${signedMoney(item.realized_pnl)}`, pnl > 0 ? "good" : pnl < 0 ? "bad" : "info", null, `position-${item.id}`);
      }
    } else {
      p.open.push(item);
      p.open.sort(byTimeDesc("opened_at"));
    }
    renderPositions(item.id);
    refreshPnlSoon();
  }

  const modeLabel = (mode) => (mode === "live" ? "LIVE" : "DRY");
  const modeBadge = (mode) => badge(modeLabel(mode), mode === "live" ? "mode-live" : "mode-dry", mode === "live" ? "Live: real funds" : "Dry run: simulated");

  /** "+1.5", "-0.25", "0" in the quote asset; "—" for none. */
  function signedMoney(value) {
    if (value === null || value === undefined || value === "") return "—";
    const text = fmtMoney(value);
    return Number(value) > 0 ? "+" + text : text;
  }

  const signClass = (value) => (value === null || value === undefined || !Number(value) ? "" : Number(value) > 0 ? "ok" : "bad");

  function timeLeftText(iso) {
    const d = parseTime(iso);
    if (!d) return "no limit";
    const ms = d.getTime() - Date.now();
    return ms > 0 ? fmtDuration(ms) : "time exit due";
  }

  /** Prices to the symbol's precision the buy was made at (its trade's price_decimals), as
   *  the trades table shows fills; 6 significant digits when the position does not carry it.
   *  Titles and the held quantity stay exact: net of the fee it may have more decimals than
   *  the symbol's quantity precision, and rounding it could show more than is held. */
  function positionRow(item, flashId) {
    const pctText = item.unrealized_pct === null || item.unrealized_pct === undefined ? "—" : `${item.unrealized_pct > 0 ? "+" : ""}${Number(item.unrealized_pct).toFixed(2)} %`;
    const closeCell = CFG.canWrite
      ? el(
          "td",
          { dataset: { label: "" } },
          el("button", {
            type: "button",
            className: "btn btn-stop btn-small",
            dataset: { testid: "close-position", id: item.id },
            text: "Close",
            disabled: item.status !== "open",
            title: item.status === "open" ? "Sell everything it holds now, at the best bid" : "A sell is in flight",
            onclick: (ev) => closePosition(item, ev.currentTarget),
          })
        )
      : null;
    return el(
      "tr",
      { className: item.id === flashId ? "row-new" : "", dataset: { testid: "position-row", id: item.id, symbol: item.symbol, status: item.status, mode: item.mode } },
      el("td", { className: "sym", dataset: { label: "Symbol" }, title: `#${item.id} · opened ${fullTime(item.opened_at)}\nquantity ${trimDecimal(item.quantity)} of ${trimDecimal(item.initial_qty)} · cost ${fmtMoney(item.cost_quote)}` }, item.symbol, item.status !== "open" ? badge(item.status, "st st-submitted", "A sell is in flight") : null),
      el("td", { dataset: { label: "Mode" } }, modeBadge(item.mode)),
      el("td", { className: "num", dataset: { label: "Entry" }, text: fmtAt(item.entry_price, item.price_decimals), title: trimDecimal(item.entry_price) }),
      el("td", { className: "num", dataset: { label: "Last" }, text: fmtAt(item.last_price, item.price_decimals), title: item.last_price_at ? `${trimDecimal(item.last_price)} · ${fullTime(item.last_price_at)}` : "no price yet" }),
      el("td", { className: "num " + signClass(item.unrealized_pnl), dataset: { label: "Unrealized", testid: "position-unrealized" } }, pctText, el("div", { className: "sub", text: signedMoney(item.unrealized_pnl) })),
      el("td", { className: "num", dataset: { label: "Stop" }, text: fmtAt(item.stop_price, item.price_decimals), title: trimDecimal(item.stop_price) }),
      el("td", { className: "num", dataset: { label: "Trailing" }, text: item.trailing_price ? fmtAt(item.trailing_price, item.price_decimals) : "—", title: item.trailing_price ? trimDecimal(item.trailing_price) : "Not active yet" }),
      el("td", { className: "time", dataset: { label: "Time left", ...(item.expires_at ? { timeLeft: item.expires_at } : {}) }, text: timeLeftText(item.expires_at), title: item.expires_at ? `time exit ${fullTime(item.expires_at)}` : "" }),
      closeCell
    );
  }

  function closedRow(item, flashId) {
    return el(
      "tr",
      { className: item.id === flashId ? "row-new" : "", dataset: { testid: "closed-position-row", id: item.id, symbol: item.symbol, mode: item.mode } },
      el("td", { className: "time", text: fmtTime(item.closed_at), title: `${fullTime(item.closed_at)}\n#${item.id} · opened ${fullTime(item.opened_at)}` }),
      el("td", { className: "sym", text: item.symbol }),
      el("td", {}, modeBadge(item.mode)),
      el("td", { className: "reason", text: item.exit_reason ? item.exit_reason.replaceAll("_", " ") : "—", title: Number(item.dust_qty) ? `dust left: ${trimDecimal(item.dust_qty)}` : "" }),
      el("td", { className: "num " + signClass(item.realized_pnl), text: signedMoney(item.realized_pnl), title: `proceeds ${fmtMoney(item.proceeds_quote)} · cost ${fmtMoney(item.cost_quote)} · fees ${fmtMoney(item.fees_quote)}` })
    );
  }

  function renderPositions(flashId) {
    const p = state.positions;
    $("positions-body").replaceChildren(...p.open.map((item) => positionRow(item, flashId)));
    $("positions-empty").hidden = p.open.length > 0;
    setText("positions-count", p.open.length ? `${p.open.length}${p.openMore ? "+" : ""}` : "");
    $("closed-positions-body").replaceChildren(...p.closed.map((item) => closedRow(item, flashId)));
    $("closed-positions-empty").hidden = p.closed.length > 0;
    setText("closed-positions-count", p.closedCount ? (p.closedCapped ? `${p.closedCount}+` : String(p.closedCount)) : "");
  }

  async function closePosition(item, button) {
    const what = item.mode === "live" ? "LIVE: a real sell order goes to MEXC" : "dry run: a simulated sell";
    if (!window.confirm(`Close position #${item.id} ${item.symbol}?\n\nSells everything it holds (${trimDecimal(item.quantity)}) now at the best bid (${what}).`)) return;
    try {
      const result = await withBusy(button, () => api("POST", tradeUrl(EP.position_close, item.id)));
      upsertPosition(result);
      const tail = result.status === "closed" ? `closed: realized ${signedMoney(result.realized_pnl)}` : result.status === "closing" ? "sell sent, settling" : "still open: nothing could be sold now";
      toast(`Position #${result.id} ${result.symbol} (${modeLabel(result.mode)}) ${tail}.`, result.status === "open" ? "warn" : "good", null, `position-${result.id}`);
    } catch (err) {
      toast(`Could not close position #${item.id} ${item.symbol}: ${err.message}`, "error");
      guarded("positions", loadPositions);
    }
  }

  const PNL_ROWS = [
    ["realized", "Realized", (m) => signedMoney(m.realized_pnl), (m) => signClass(m.realized_pnl)],
    ["unrealized", "Unrealized", (m) => signedMoney(m.unrealized_pnl) + (m.open_unpriced ? ` (${m.open_unpriced} unpriced)` : ""), (m) => signClass(m.unrealized_pnl)],
    ["fees", "Fees", (m) => fmtMoney(m.fees_quote), () => ""],
    ["win-rate", "Win rate", (m) => (m.win_rate === null || m.win_rate === undefined ? "—" : `${pct(m.win_rate)} (${m.wins}/${m.closed})`), () => ""],
    ["open", "Open", (m) => String(m.open), () => ""],
  ];

  function renderPnl(data) {
    state.pnl = data;
    const modes = ["dry_run", "live"];
    $("pnl-body").replaceChildren(
      ...PNL_ROWS.map(([key, label, text, cls]) =>
        el("tr", { dataset: { row: key } }, el("td", { text: label }), ...modes.map((mode) => el("td", { className: "num " + cls(data[mode] || {}), dataset: { testid: `pnl-${mode}-${key}` }, text: data[mode] ? text(data[mode]) : "—" })))
      )
    );
  }

  // ------------------------------------------------------------------ config

  const configForm = () => $("config-form");
  const fieldKinds = CFG.configFields || {};

  function normalise(kind, value) {
    if (kind === "bool") return !!value;
    if (kind === "symbols") {
      const list = Array.isArray(value) ? value : String(value || "").split(/[\s,;]+/);
      return list.map((s) => String(s).trim().toUpperCase()).filter(Boolean).join(",");
    }
    if (kind === "decimal") return trimDecimal(value);
    if (kind === "json") {
      if (typeof value !== "string") return JSON.stringify(value || {});
      try { return JSON.stringify(JSON.parse(value)); } catch (e) { return value.trim(); }
    }
    if (value === null || value === undefined) return "";
    return String(value).trim();
  }

  function readField(name) {
    const input = configForm().elements[name];
    if (!input) return undefined;
    return fieldKinds[name] === "bool" ? input.checked : input.value;
  }

  function writeField(name, value) {
    const input = configForm().elements[name];
    if (!input) return;
    const kind = fieldKinds[name];
    if (kind === "bool") input.checked = !!value;
    else if (kind === "symbols") input.value = (value || []).join(", ");
    else if (kind === "decimal") input.value = trimDecimal(value);
    else if (kind === "json") input.value = JSON.stringify(value || {});
    else input.value = value === null || value === undefined ? "" : String(value);
  }

  function dirtyFields() {
    const dirty = new Set();
    if (!state.config) return dirty;
    for (const name of Object.keys(fieldKinds)) {
      if (normalise(fieldKinds[name], readField(name)) !== state.baseline[name]) dirty.add(name);
    }
    return dirty;
  }

  /** The payload value for one edited field, as the user typed it. */
  function payloadValue(name) {
    const kind = fieldKinds[name];
    const value = readField(name);
    if (kind === "bool") return value;
    if (kind === "symbols") return String(value).split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
    if (kind === "json") {
      try { return JSON.parse(value); } catch (e) { return String(value).trim(); }
    }
    return String(value).trim();
  }

  function applyConfig(cfg, opts) {
    const options = opts || {};
    const prev = state.config;
    const dirty = options.reset ? new Set() : dirtyFields();
    state.config = cfg;
    for (const name of Object.keys(fieldKinds)) {
      if (!dirty.has(name)) writeField(name, cfg[name]);
      state.baseline[name] = normalise(fieldKinds[name], cfg[name]);
    }
    setText("config-version", `version ${cfg.version}${cfg.updated_at ? " · updated " + fmtTime(cfg.updated_at, false) : ""}`);
    $("config-version").title = fullTime(cfg.updated_at);
    const notice = $("config-notice");
    if (prev && prev.version !== cfg.version && dirty.size && !options.reset) {
      notice.textContent = `The configuration changed to version ${cfg.version} while you were editing. Your unsaved edits (${[...dirty].join(", ")}) are kept; the other fields now show version ${cfg.version}. Review before saving.`;
      notice.hidden = false;
    } else if (options.reset) {
      notice.hidden = true;
    }
    markDirty();
    renderTradingBadges();
    renderBanner();
    if (!prev || prev.version !== cfg.version) guarded("config history", loadConfigHistory);
  }

  function markDirty() {
    const dirty = dirtyFields();
    for (const node of configForm().querySelectorAll("[data-field]")) {
      node.classList.toggle("dirty", dirty.has(node.dataset.field));
    }
  }

  async function loadConfig() {
    applyConfig(await api("GET", EP.config));
  }

  // ------------------------------------------------------------------ presets

  async function loadPresets() {
    state.presets = await api("GET", EP.config_presets);
    const select = $("preset-select");
    const chosen = select.value;
    select.replaceChildren(
      el("option", { value: "", text: state.presets.length ? "— choose —" : "— none saved yet —" }),
      ...state.presets.map((p) => el("option", { value: p.name, text: p.description ? `${p.name} · ${p.description}` : p.name }))
    );
    if (state.presets.some((p) => p.name === chosen)) select.value = chosen;
    showPreset();
  }

  function showPreset() {
    const p = (state.presets || []).find((x) => x.name === $("preset-select").value);
    const labels = CFG.configLabels || {};
    setText(
      "preset-detail",
      p ? Object.entries(p.settings).map(([k, v]) => `${labels[k] || k}: ${typeof v === "object" ? JSON.stringify(v) : trimDecimal(String(v))}`).join(" · ") : ""
    );
  }

  async function applyPreset(button) {
    const name = $("preset-select").value;
    const status = $("preset-status");
    if (!name) {
      status.textContent = "Choose a preset to apply.";
      return;
    }
    try {
      const body = state.config ? { expected_version: state.config.version } : {};
      const cfg = await withBusy(button, () => api("POST", EP.config_preset_apply.replace("{name}", encodeURIComponent(name)), body));
      applyConfig(cfg, { reset: true });
      status.textContent = `Preset ${name} applied as version ${cfg.version}.`;
    } catch (err) {
      status.textContent = `Preset ${name} not applied: ${err.message}`;
    }
  }

  async function savePreset(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const name = form.elements.preset_name.value.trim();
    const status = $("preset-status");
    if (!/^[a-z0-9][a-z0-9_-]{0,47}$/.test(name)) {
      status.textContent = "A preset name is lower-case letters, digits, - and _, e.g. quiet-weekend.";
      return;
    }
    try {
      const body = { name, description: form.elements.preset_description.value.trim() };
      await withBusy(form.querySelector("button"), () => api("POST", EP.config_presets, body));
      status.textContent = `Saved the configuration in force as preset ${name}.`;
      form.reset();
      await loadPresets();
      $("preset-select").value = name;
      showPreset();
    } catch (err) {
      status.textContent = `Preset not saved: ${err.message}`;
    }
  }

  async function loadInjectInfo() {
    if (!$("inject-form")) return;
    const info = await api("GET", EP.listing_inject);
    setText("inject-note", info.note);
    if (info.quote_assets) QUOTES.splice(0, QUOTES.length, ...info.quote_assets);
  }

  async function loadConfigHistory() {
    const data = await api("GET", EP.config_history);
    const rows = (data.results || []).slice(0, 15).map((h) =>
      el(
        "tr",
        { dataset: { version: h.version } },
        el("td", { text: `v${h.version}` }),
        el("td", { className: "time", text: fmtTime(h.changed_at, false), title: fullTime(h.changed_at) }),
        el("td", { text: h.changed_by || "—" }),
        el("td", { className: "reason", text: h.reason || "—" }),
        el("td", { text: h.mode || "" }),
        el("td", { text: h.auto_trade === undefined ? "" : h.auto_trade ? "on" : "off" })
      )
    );
    $("config-history-body").replaceChildren(...rows);
  }

  function clearConfigErrors() {
    for (const node of configForm().querySelectorAll("[data-error-for]")) node.textContent = "";
    for (const node of configForm().querySelectorAll(".has-error")) node.classList.remove("has-error");
  }

  function showFieldError(name, messages) {
    const form = configForm();
    let target = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    const known = !!target;
    if (!target) target = form.querySelector('[data-error-for="non_field_errors"]');
    const text = flattenErrors(messages).join(" ");
    target.textContent = (target.textContent ? target.textContent + " " : "") + (known || name === "non_field_errors" ? text : `${name}: ${text}`);
    const field = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (field) field.classList.add("has-error");
    else if (name === "reason") target.closest(".field").classList.add("has-error");
  }

  function configStatus(text, cls) {
    const node = $("config-status");
    node.textContent = text;
    node.className = "config-status " + (cls || "");
  }

  function effectiveAfter(changes) {
    const c = Object.assign({}, state.config, changes);
    return { mode: c.mode, auto: c.auto_trade, amount: `${fmtMoney(c.snipe_quote_usdt)} ${c.quote_asset || ""}`.trim(), max: fmtMoney(c.max_trade_usdt) };
  }

  function confirmRiskyChanges(changes) {
    const after = effectiveAfter(changes);
    if (changes.auto_trade === true && !state.config.auto_trade) {
      const what =
        after.mode === "live"
          ? `REAL orders will be sent to MEXC automatically for every eligible new listing (${after.amount} per snipe, at most ${after.max} per trade).`
          : "Every eligible new listing will be traded automatically (mode dry_run: simulated fills, nothing live).";
      if (!window.confirm(`Enable AUTO-TRADE?\n\n${what}`)) return "enabling auto-trade was not confirmed";
    }
    if (changes.mode === "live" && state.config.mode !== "live") {
      const what = after.auto
        ? `With auto-trade ON, real money is spent on new listings as soon as this is saved (${after.amount} per snipe).`
        : "Auto-trade stays off, so nothing is sent automatically yet; confirmed and manual live trades will use real money.";
      if (!window.confirm(`Switch mode to LIVE?\n\nOrders will go to MEXC with real funds. ${what}`)) return "switching to live mode was not confirmed";
    }
    return null;
  }

  async function submitConfig(ev) {
    ev.preventDefault();
    if (!state.config) {
      configStatus("Not saved: the current configuration has not loaded yet.", "bad");
      return;
    }
    clearConfigErrors();
    const form = configForm();
    const changes = {};
    for (const name of dirtyFields()) changes[name] = payloadValue(name);
    if (!Object.keys(changes).length) {
      configStatus(`Nothing to save: every field matches version ${state.config.version}.`, "muted");
      return;
    }
    const reason = form.elements.reason.value.trim();
    if (!reason) {
      showFieldError("reason", "Give a reason for this change; it is recorded in the history.");
      configStatus("Not saved: a reason is required.", "bad");
      form.elements.reason.focus();
      return;
    }
    const declined = confirmRiskyChanges(changes);
    if (declined) {
      configStatus(`Not saved: ${declined}. Your edits are kept.`, "warn");
      return;
    }
    const button = form.querySelector('[data-testid="config-save"]');
    configStatus(`Saving ${Object.keys(changes).join(", ")}…`, "muted");
    try {
      const cfg = await withBusy(button, () => api("PUT", EP.config, { ...changes, reason, expected_version: state.config.version }));
      form.elements.reason.value = "";
      applyConfig(cfg, { reset: true });
      configStatus(`Saved as version ${cfg.version}.`, "ok");
      toast(`Configuration saved as version ${cfg.version} (${Object.keys(changes).join(", ")}).`, "good");
      refreshRiskSoon();
    } catch (err) {
      if (err.status === 400 && err.data && typeof err.data === "object" && !err.data.detail) {
        for (const [name, messages] of Object.entries(err.data)) showFieldError(name, messages);
        configStatus("Not saved: fix the fields marked below. Your edits are kept.", "bad");
        const first = form.querySelector(".has-error input, .has-error select");
        if (first) first.focus();
      } else {
        configStatus(`Not saved: ${err.message}`, "bad");
        toast(`Configuration not saved: ${err.message}`, "error");
      }
    }
  }

  function revertConfig() {
    if (!state.config) return;
    clearConfigErrors();
    applyConfig(state.config, { reset: true });
    configStatus(`Edits discarded; showing version ${state.config.version}.`, "muted");
  }

  // ------------------------------------------------------------------ test tools

  // What the server accepts (listings.services.symbol_pattern): a base and a known quote asset.
  const QUOTES = ["USDT", "USDC", "USDE", "FDUSD", "BTC", "ETH", "EUR", "MX"]; // the server's list replaces it

  /** Why a symbol would be refused, said while typing, before the click ("" when fine). */
  function injectProblem(symbol) {
    if (!symbol) return "";
    if (!/^[A-Z0-9]+$/.test(symbol)) return "Letters A-Z and digits only, e.g. ABCUSDT.";
    const quote = QUOTES.find((q) => symbol.endsWith(q) && symbol.length > q.length);
    if (!quote) return `${symbol} has no quote asset: end it with one of ${QUOTES.join(", ")}, e.g. ${symbol}USDT.`;
    if (symbol.length > 32) return "At most 32 characters.";
    return "";
  }

  async function injectListing(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const symbol = form.elements.inject_symbol.value.trim().toUpperCase();
    const button = form.querySelector("button[type=submit]");
    const problem = injectProblem(symbol);
    setText("inject-error", problem);
    if (problem) return;
    try {
      const listing = await withBusy(button, () => api("POST", EP.listing_inject, symbol ? { symbol } : {}));
      form.elements.inject_symbol.value = "";
      upsertListing(listing);
      const c = state.config;
      const next = c ? (c.kill_switch ? "kill switch on: it will not be traded" : c.auto_trade ? `auto-trade on (${c.mode}): the bot will try to trade it` : "auto-trade off: any trade is simulated") : "";
      toast(`Injected ${listing.symbol} (test_injection)${next ? "; " + next : ""}.`, "info");
    } catch (err) {
      toast(`Could not inject a listing: ${err.message}`, "error");
    }
  }

  function openTestTrade() {
    const dialog = $("test-trade-dialog");
    const form = $("test-trade-form");
    if (!form.elements.tt_symbol.value && state.listings.results.length) form.elements.tt_symbol.value = state.listings.results[0].symbol;
    if (!form.elements.tt_quote_qty.value && state.config) form.elements.tt_quote_qty.value = trimDecimal(state.config.snipe_quote_usdt);
    setText("tt-status", "");
    for (const node of form.querySelectorAll("[data-tt-error-for]")) node.textContent = "";
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    form.elements.tt_symbol.focus();
  }

  async function submitTestTrade(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const status = $("tt-status");
    for (const node of form.querySelectorAll("[data-tt-error-for]")) node.textContent = "";
    const symbol = form.elements.tt_symbol.value.trim().toUpperCase();
    const quote = form.elements.tt_quote_qty.value.trim();
    if (!symbol || !quote) {
      if (!symbol) form.querySelector('[data-tt-error-for="symbol"]').textContent = "Give a symbol, e.g. ABCUSDT.";
      if (!quote) form.querySelector('[data-tt-error-for="quote_qty"]').textContent = "Give a quote amount.";
      status.textContent = "Not sent.";
      status.className = "small bad";
      return;
    }
    status.textContent = "Sending dry-run trade…";
    status.className = "small muted";
    const button = form.querySelector("button[type=submit]");
    try {
      const trade = await withBusy(button, () => api("POST", EP.trade_execute, { symbol, quote_qty: quote, live: false }));
      upsertTrade(trade);
      const why = trade.reason_code ? ` — ${trade.reason_code}` : "";
      status.textContent = `Trade #${trade.id} ${trade.symbol}: ${trade.status} (${trade.mode})${why}${trade.error_message ? ": " + trade.error_message : ""}`;
      status.className = "small " + (toastKind(trade.status) === "bad" ? "bad" : "ok");
    } catch (err) {
      if (err.status === 400 && err.data && typeof err.data === "object" && !err.data.detail) {
        const rest = [];
        for (const [name, msgs] of Object.entries(err.data)) {
          const target = form.querySelector(`[data-tt-error-for="${CSS.escape(name)}"]`);
          if (target) target.textContent = flattenErrors(msgs).join(" ");
          else rest.push(`${name}: ${flattenErrors(msgs).join(" ")}`);
        }
        status.textContent = `Not sent${rest.length ? ": " + rest.join("; ") : ": fix the fields above."}`;
      } else {
        status.textContent = `Not sent: ${err.message}`;
      }
      status.className = "small bad";
    }
  }

  // ------------------------------------------------------------------ live updates

  function handleEvent(msg) {
    live.lastMessageAt = Date.now();
    if (!msg || typeof msg !== "object" || msg.event === "pong") return;
    const payload = msg.payload || {};
    switch (msg.event) {
      case "listing.created":
        upsertListing(payload);
        toast(`New listing ${payload.symbol} (${payload.source})`, "info", 5000);
        break;
      case "trade.updated":
        upsertTrade(payload);
        break;
      case "position.updated":
        upsertPosition(payload);
        break;
      case "health.changed":
        renderStatus(payload);
        break;
      case "config.changed":
        applyConfig(payload);
        refreshRiskSoon();
        break;
      default:
        break;
    }
    markRefreshed();
  }

  function wsUrl() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${window.location.host}${EP.websocket}`;
  }

  function connectSocket() {
    live.retryAt = null;
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (err) {
      scheduleReconnect();
      return;
    }
    live.ws = ws;
    ws.addEventListener("open", () => {
      live.open = true;
      live.everOpened = true;
      live.retryMs = 1000;
      live.lastMessageAt = Date.now();
      startPing(ws);
      stopPolling();
      updateIndicator();
      refreshAll(false); // catch up on anything missed while disconnected
    });
    ws.addEventListener("message", (ev) => {
      try {
        handleEvent(JSON.parse(ev.data));
      } catch (err) {
        console.error("dashboard: bad push message", err, ev.data);
      }
    });
    ws.addEventListener("close", () => {
      const wasOpen = live.open;
      live.open = false;
      live.ws = null;
      clearInterval(live.pingTimer);
      startPolling();
      scheduleReconnect();
      if (wasOpen) toast("Live push disconnected; polling every 3 s until it reconnects.", "warn");
    });
  }

  /** Ping the server; a socket silent for two intervals is closed (and so falls back). */
  function startPing(ws) {
    clearInterval(live.pingTimer);
    live.pingTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - live.lastMessageAt > 2 * WS_PING_MS) {
        ws.close(4000, "no answer to ping");
        return;
      }
      ws.send(JSON.stringify({ type: "ping" }));
    }, WS_PING_MS);
  }

  function scheduleReconnect() {
    const delay = live.retryMs;
    live.retryMs = Math.min(live.retryMs * 2, WS_BACKOFF_MAX_MS);
    live.retryAt = Date.now() + delay;
    updateIndicator();
    setTimeout(connectSocket, delay);
  }

  function startPolling() {
    if (live.pollTimer) return;
    live.pollTimer = setInterval(pollOnce, POLL_MS);
    updateIndicator();
  }

  function stopPolling() {
    clearInterval(live.pollTimer);
    live.pollTimer = null;
    updateIndicator();
  }

  async function pollOnce() {
    if (live.polling) return; // the previous round is still waiting on the server
    live.polling = true;
    live.polls += 1;
    try {
      await refreshAll(false, live.polls % LATENCY_POLL_EVERY === 0);
    } finally {
      live.polling = false;
    }
  }

  async function refreshAll(silent, withLatency) {
    const jobs = [
      guarded("bot status", loadStatus),
      guarded("config", loadConfig),
      guarded("risk metrics", loadRisk),
      guarded("listings", loadListings),
      guarded("trades", () => loadTrades(silent)),
      guarded("awaiting", () => loadAwaiting(silent)),
      guarded("positions", loadPositions),
      guarded("P&L", loadPnl),
    ];
    if (withLatency !== false) jobs.push(guarded("latency", loadLatency));
    const results = await Promise.all(jobs);
    if (results.some(Boolean)) markRefreshed();
  }

  function markRefreshed() {
    state.lastRefresh = Date.now();
    tickRefresh();
  }

  function updateIndicator() {
    const node = $("live-mode");
    let text;
    let cls;
    if (live.open) {
      text = "Live: push";
      cls = "live-push";
    } else if (!CFG.pushEnabled) {
      text = `Live: polling every ${POLL_MS / 1000} s (no live push)`;
      cls = "live-poll";
    } else if (!live.everOpened && !live.retryAt) {
      text = `Connecting push… (polling every ${POLL_MS / 1000} s meanwhile)`;
      cls = "live-poll";
    } else {
      const wait = live.retryAt ? Math.max(0, Math.ceil((live.retryAt - Date.now()) / 1000)) : 0;
      text = `Live: polling every ${POLL_MS / 1000} s (push disconnected; retry ${wait ? "in " + wait + " s" : "now"})`;
      cls = "live-down";
    }
    node.textContent = text;
    node.className = "live-mode " + cls;
  }

  function tickRefresh() {
    if (!state.lastRefresh) return;
    const secs = Math.round((Date.now() - state.lastRefresh) / 1000);
    setText("last-refresh", secs < 2 ? "updated just now" : `updated ${secs} s ago`);
  }

  /** Once a second: ages, countdowns, the indicator's retry countdown. */
  function tick() {
    for (const node of document.querySelectorAll("[data-age-of]")) node.textContent = fmtAge(node.dataset.ageOf);
    for (const node of document.querySelectorAll("[data-expires-at]")) node.textContent = expiryText(node.dataset.expiresAt);
    for (const node of document.querySelectorAll("[data-time-left]")) node.textContent = timeLeftText(node.dataset.timeLeft);
    if (state.status && $("bot-actual").dataset.statusAge) {
      const actual = actualDescription(state.status);
      $("bot-actual").textContent = actual.text;
    }
    if (!live.open && live.retryAt) updateIndicator();
    tickRefresh();
  }

  // ------------------------------------------------------------------ wiring

  function bind(id, event, fn) {
    const node = $(id);
    if (node) node.addEventListener(event, fn);
  }

  function wire() {
    bind("start-bot", "click", (ev) => botAction("start", ev.currentTarget));
    bind("stop-bot", "click", (ev) => botAction("stop", ev.currentTarget));
    bind("inject-form", "submit", injectListing);
    bind("inject-symbol", "input", (ev) => setText("inject-error", injectProblem(ev.currentTarget.value.trim().toUpperCase())));
    bind("preset-select", "change", showPreset);
    bind("preset-apply", "click", (ev) => applyPreset(ev.currentTarget));
    bind("preset-form", "submit", savePreset);
    bind("test-trade", "click", openTestTrade);
    bind("test-trade-form", "submit", submitTestTrade);
    bind("tt-close", "click", () => $("test-trade-dialog").close());
    bind("config-form", "submit", submitConfig);
    bind("config-form", "input", markDirty);
    bind("config-form", "change", markDirty);
    bind("config-revert", "click", revertConfig);
    bind("trade-filters", "submit", (ev) => {
      ev.preventDefault();
      readTradeFilters();
    });
    for (const name of ["filter_mode", "filter_status"]) $("trade-filters").elements[name].addEventListener("change", readTradeFilters);
    bind("trades-prev", "click", () => turnPage(state.trades, -1, () => loadTrades(true), "trades"));
    bind("trades-next", "click", () => turnPage(state.trades, +1, () => loadTrades(true), "trades"));
    bind("listings-prev", "click", () => turnPage(state.listings, -1, loadListings, "listings"));
    bind("listings-next", "click", () => turnPage(state.listings, +1, loadListings, "listings"));
    bind("listing-source", "change", (ev) => {
      state.listings.source = ev.currentTarget.value;
      state.listings.page = 1;
      guarded("listings", loadListings);
    });
    bind("latency-window", "change", () => guarded("latency", loadLatency));
  }

  async function turnPage(pager, delta, load, source) {
    const before = pager.page;
    pager.page = Math.max(1, pager.page + delta);
    const ok = await guarded(source, load);
    if (!ok) pager.page = before;
  }

  function showTimezone() {
    const minutes = -new Date().getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "−";
    const abs = Math.abs(minutes);
    let zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (err) {
      zone = "";
    }
    setText("tz-note", `times local: UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}${zone ? " " + zone : ""}`);
  }

  async function init() {
    wire();
    showTimezone();
    updateIndicator();
    await refreshAll(true);
    guarded("presets", loadPresets);
    guarded("inject", loadInjectInfo);
    if (CFG.pushEnabled && "WebSocket" in window) {
      startPolling(); // until the socket is open
      connectSocket();
    } else {
      startPolling();
    }
    // With push, a few things still move without events: the heartbeat (a dead monitor
    // publishes nothing), rolling risk windows, expiring confirmations and open positions.
    setInterval(() => live.open && guarded("bot status", loadStatus), SAFETY_STATUS_MS);
    setInterval(() => {
      if (!live.open) return;
      guarded("risk metrics", loadRisk);
      guarded("awaiting", () => loadAwaiting(false));
      guarded("latency", loadLatency);
      guarded("positions", loadPositions); // prices move the unrealized figures without events
      guarded("P&L", loadPnl);
    }, SAFETY_RISK_MS);
    setInterval(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", init);
  if (document.readyState !== "loading") {
    document.removeEventListener("DOMContentLoaded", init);
    init();
  }
})();
