// "Send test notification" (operators): POST /api/alerts/test/, say what happened.
(function () {
  "use strict";
  const button = document.getElementById("notify-test");
  if (!button) return;
  const status = document.getElementById("notify-test-status");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    status.textContent = "Sending…";
    try {
      const response = await fetch(button.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      const body = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        status.textContent = "Failed: " + (body.detail || response.status);
      } else if (!body.channels) {
        status.textContent = "No channels configured (NOTIFY_URLS).";
      } else {
        status.textContent = "Queued for " + body.channels + " channel(s); see /ready for the outcome.";
      }
    } catch (err) {
      status.textContent = "Failed: " + err;
    } finally {
      button.disabled = false;
    }
  });
})();

// Links in notifications (alerts/messages.py): /dashboard/#trade-N and /dashboard/#position-N
// scroll to that row of the trades (positions) table and highlight it, once the table has
// rendered (dashboard.js fills it after its first API call, and re-renders it on every push,
// so the highlight is put back on each new render). A row not on the loaded page gets a
// short notice instead, with the row's symbol, status, mode and reason from the API
// (GET /api/trade/N/, /api/positions/N/).
(function () {
  "use strict";
  const HIGHLIGHT = "row-linked";
  const config = (function () {
    const node = document.getElementById("dashboard-config");
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch (err) {
      return {};
    }
  })();
  const endpoints = config.endpoints || {};
  const modeLabel = (mode) => (mode === "live" ? "LIVE" : mode === "dry_run" ? "DRY" : mode);
  const detailOf = (template) => (template ? (id) => template.replace("{id}", String(id)) : null);
  const KINDS = {
    trade: {
      label: "Trade",
      card: "trades-card",
      bodies: ["trades-body"],
      empties: ["trades-empty"],
      detail: detailOf(endpoints.trade_detail),
      reason: (body) => body.reason_code || (body.error_message ? "error" : ""),
      elsewhere: "older than this page, or hidden by the filters",
    },
    position: {
      label: "Position",
      card: "positions-card",
      bodies: ["positions-body", "closed-positions-body"],
      empties: ["positions-empty", "closed-positions-empty"],
      detail: detailOf(endpoints.position_detail),
      reason: (body) => body.exit_reason || "",
      elsewhere: "not among the positions shown",
    },
  };
  if (!document.getElementById(KINDS.trade.card)) return;

  const style = document.createElement("style");
  style.textContent =
    ".tbl tbody tr." + HIGHLIGHT + " { background: rgba(76, 155, 232, 0.22);" +
    " box-shadow: inset 3px 0 0 #4c9be8; }\n" +
    ".link-notice { margin: 6px 0; padding: 6px 10px; border-left: 3px solid #4c9be8;" +
    " background: rgba(76, 155, 232, 0.15); }";
  document.head.appendChild(style);

  let target = null; // { kind, id, scrolled, noticed }

  function parse(hash) {
    const match = /^#(trade|position)-(\d+)$/.exec(hash || "");
    return match ? { kind: match[1], id: match[2], scrolled: false, noticed: false } : null;
  }

  function findRow(kind, id) {
    for (const bodyId of KINDS[kind].bodies) {
      const body = document.getElementById(bodyId);
      const row = body && body.querySelector(`tr[data-id="${id}"]`);
      if (row) return row;
    }
    return null;
  }

  function rendered(kind) {
    return KINDS[kind].bodies.some((bodyId, i) => {
      const body = document.getElementById(bodyId);
      const empty = document.getElementById(KINDS[kind].empties[i]);
      return (body && body.children.length > 0) || (empty && !empty.hidden);
    });
  }

  function notice(kind) {
    const card = document.getElementById(KINDS[kind].card);
    if (!card) return null;
    let node = card.querySelector(".link-notice");
    if (!node) {
      node = document.createElement("p");
      node.className = "link-notice small";
      node.setAttribute("role", "status");
      node.dataset.testid = "link-notice";
      const head = card.querySelector(".card-head");
      card.insertBefore(node, head ? head.nextSibling : card.firstChild);
    }
    return node;
  }

  function clearNotices() {
    for (const node of document.querySelectorAll(".link-notice")) node.remove();
  }

  async function explain(kind, id) {
    const spec = KINDS[kind];
    const node = notice(kind);
    if (!node) return;
    const text = `${spec.label} #${id} is not on this page (${spec.elsewhere}).`;
    node.textContent = text;
    delete node.dataset.status;
    if (!spec.detail) return;
    try {
      const response = await fetch(spec.detail(id), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!target || target.kind !== kind || target.id !== id) return; // the hash moved on
      if (response.status === 404) {
        node.textContent = `${spec.label} #${id} does not exist.`;
        return;
      }
      const body = await response.json();
      if (response.ok && body.status) {
        const sym = body.symbol ? ` ${body.symbol}` : "";
        const mode = body.mode ? ` (${modeLabel(body.mode)})` : "";
        const reason = spec.reason(body);
        const why = reason ? `, reason ${reason}` : "";
        node.textContent = `${spec.label} #${id}${sym}${mode} is ` +
          `${body.status.replaceAll("_", " ")}${why}; it is ${spec.elsewhere}.`;
        node.dataset.status = body.status;
      }
    } catch (err) {
      // keep the plain notice
    }
  }

  function apply() {
    for (const old of document.querySelectorAll("tr." + HIGHLIGHT)) {
      if (!target || old !== findRow(target.kind, target.id)) old.classList.remove(HIGHLIGHT);
    }
    if (!target) return;
    const row = findRow(target.kind, target.id);
    if (row) {
      if (!row.classList.contains(HIGHLIGHT)) row.classList.add(HIGHLIGHT);
      if (target.noticed) {
        clearNotices();
        target.noticed = false;
      }
      if (!target.scrolled) {
        target.scrolled = true;
        row.scrollIntoView({ block: "center" });
      }
    } else if (!target.noticed && rendered(target.kind)) {
      target.noticed = true;
      explain(target.kind, target.id);
    }
  }

  function follow() {
    clearNotices();
    target = parse(window.location.hash);
    apply();
  }

  let queued = false;
  const observer = new MutationObserver(function () {
    if (queued) return;
    queued = true;
    window.requestAnimationFrame(function () {
      queued = false;
      apply();
    });
  });
  for (const spec of Object.values(KINDS)) {
    for (const id of [spec.card, ...spec.bodies]) {
      const node = document.getElementById(id);
      if (node) {
        observer.observe(node, { childList: true, subtree: true, attributes: true, attributeFilter: ["hidden"] });
      }
    }
  }
  window.addEventListener("hashchange", follow);
  follow();
})();
