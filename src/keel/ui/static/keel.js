/* Keel UI helpers (vanilla JS, no build step). Everything lives on window.Keel; see keel/ui/README.md. */
"use strict";
const Keel = (() => {
  const LEVELS = ["public", "read", "write", "maintain", "admin"];
  const ROLE_LEVEL = {viewer: "read", reader: "read", editor: "write", writer: "write",
                      maintainer: "maintain", owner: "admin", admin: "admin"};
  let mePromise = null;

  /** fetch + JSON: `body` objects are sent as JSON; a non-2xx answer throws an Error carrying the server's message. */
  async function fetchJSON(url, opts = {}) {
    const init = Object.assign({credentials: "same-origin"}, opts);
    init.headers = Object.assign({Accept: "application/json"}, opts.headers || {});
    if (opts.body !== undefined && typeof opts.body !== "string") {
      init.body = JSON.stringify(opts.body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!response.ok) {
      const message = (data && (data.message || data.detail)) || text || response.statusText;
      const error = new Error(typeof message === "string" ? message : JSON.stringify(message));
      error.status = response.status;
      error.data = data;
      throw error;
    }
    return data;
  }

  /** The JSON embedded in <script type="application/json" id="...">. */
  function readJSON(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  /** Show a message in the page's flash bar (kind: "error" | "ok"). */
  function flash(message, kind = "error") {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = message;
    el.className = "flash " + kind;
    el.hidden = false;
  }

  /** Min/max bucket downsampling: at most ~maxPoints points, keeping each bucket's extremes (spikes survive). */
  function downsample(xs, ys, maxPoints = 2000) {
    const n = xs.length;
    if (n <= maxPoints) return [xs, ys];
    const buckets = Math.max(1, Math.floor(maxPoints / 2));
    const size = n / buckets;
    const ox = [], oy = [];
    for (let b = 0; b < buckets; b++) {
      const start = Math.floor(b * size), end = Math.min(n, Math.floor((b + 1) * size));
      let lo = start, hi = start;
      for (let i = start; i < end; i++) {
        if (ys[i] < ys[lo]) lo = i;
        if (ys[i] > ys[hi]) hi = i;
      }
      for (const i of lo <= hi ? [lo, hi] : [hi, lo]) {
        if (ox.length && ox[ox.length - 1] === xs[i]) continue;
        ox.push(xs[i]); oy.push(ys[i]);
      }
    }
    return [ox, oy];
  }

  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d",
                   "#4f46e5", "#b45309"];

  /**
   * Draw overlaid line series with uPlot. series: [{label, x: [...], y: [...]}] (x ascending).
   * options: {title, xLabel, yLabel, time: bool (x in seconds since epoch), height, maxPoints}.
   * Returns the uPlot instance (also at el.uplot); sets el.dataset.chartReady = "1" when drawn.
   */
  function lineChart(el, series, options = {}) {
    const maxPoints = options.maxPoints || 2000;
    const tables = series.map((s) => downsample(s.x, s.y, maxPoints));
    const data = tables.length ? uPlot.join(tables) : [[]];
    const width = Math.max(300, el.clientWidth || 600);
    const opts = {
      title: options.title || "",
      width, height: options.height || 260,
      scales: {x: {time: !!options.time}},
      axes: [{label: options.xLabel || ""}, {label: options.yLabel || "", size: 60}],
      series: [{label: options.xLabel || "x"}].concat(series.map((s, i) => ({
        label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
        points: {show: false},
      }))),
      legend: {live: true},
    };
    el.innerHTML = "";
    if (el.uplot) el.uplot.destroy();
    const plot = new uPlot(opts, data, el);
    el.uplot = plot;
    el.dataset.series = String(series.length);
    el.dataset.chartReady = "1";
    return plot;
  }

  /** Mark the page as fully drawn (body[data-ready="1"]): tests and benchmarks wait for it. */
  function ready() { document.body.dataset.ready = "1"; }

  /** GET /api/v1/auth/whoami once per page (body[data-whoami]); with auth off everything is allowed. */
  function whoami() {
    const url = document.body.dataset.whoami;
    if (!url) return Promise.resolve({auth_enabled: false, user: null, role: null, admin: false});
    if (!mePromise) {
      mePromise = fetchJSON(url).catch((err) => {
        if (err.status === 401) return {auth_enabled: true, user: null, role: null, admin: false};
        return {auth_enabled: false, user: null, role: null, admin: false};
      });
    }
    return mePromise;
  }

  /** Whether the signed-in principal may use something that needs `permission` (read/write/maintain/admin). */
  function allows(me, permission) {
    if (!me || !me.auth_enabled) return true;
    if (me.admin) return true;
    const level = ROLE_LEVEL[String(me.role || "").toLowerCase()] || "public";
    return LEVELS.indexOf(level) >= LEVELS.indexOf(permission);
  }

  /** Disable every [data-requires="maintain"] (etc.) element the role may not use, with a tooltip saying why. */
  function applyRole(me) {
    document.querySelectorAll("[data-requires]").forEach((el) => {
      const needed = el.dataset.requires;
      if (!allows(me, needed)) {
        el.disabled = true;
        el.classList.add("forbidden");
        el.title = `needs the ${needed} permission (you are ${me.role || "not signed in"})`;
      }
    });
    const badge = document.getElementById("user-badge");
    if (badge) {
      if (!me.auth_enabled) badge.textContent = "auth off";
      else if (!me.user) badge.innerHTML = '<a href="/ui/login">sign in</a>';
      else {
        badge.textContent = `${me.user} · ${me.admin ? "admin" : (me.role || "no role")}`;
        const out = document.createElement("a");
        out.href = "#"; out.textContent = " sign out"; out.id = "sign-out";
        out.addEventListener("click", async (e) => {
          e.preventDefault();
          await fetchJSON("/ui/logout", {method: "POST"});
          window.location.assign("/ui/login");
        });
        badge.appendChild(out);
      }
    }
  }

  /**
   * Confirm, then call the REST API; the server's error is shown in the flash bar.
   * opts: {url, method = "POST", body, confirm: "question?", done: "reload" | function(result)}.
   * Returns the parsed answer, or null when dismissed or refused.
   */
  /** The nav's project picker: remember the project in the ``keel_project`` cookie (the server reads it when a
   * request names no project) and open the current section's list in it. */
  function bindProjectPicker() {
    const picker = document.getElementById("project-picker");
    if (!picker) return;
    picker.addEventListener("change", () => {
      document.cookie = `keel_project=${picker.value}; path=/; SameSite=Strict`;
      const section = document.querySelector("nav a.active");
      window.location.href = section ? section.getAttribute("href") : "/ui/";
    });
  }

  /** Empty ``holder`` and give it one chart box per key (``data-metric`` set), in order. */
  function chartBoxes(holder, keys) {
    holder.innerHTML = "";
    return keys.map((key) => {
      const el = document.createElement("div");
      el.className = "chart";
      el.dataset.metric = key;
      holder.appendChild(el);
      return el;
    });
  }

  async function action(opts) {
    if (opts.confirm && !window.confirm(opts.confirm)) return null;
    try {
      const result = await fetchJSON(opts.url, {method: opts.method || "POST", body: opts.body});
      if (typeof opts.done === "function") opts.done(result);
      else if (opts.done === "reload") window.location.reload();
      else flash(opts.success || "done", "ok");
      return result;
    } catch (err) {
      flash(`${opts.failure || "refused"}: ${err.message}`, "error");
      return null;
    }
  }

  /** Declarative actions: <button data-action-url=... data-action-method=POST data-action-body='{"a":1}'
   *  data-confirm="Promote?" data-done="reload">. */
  function bindActions(root = document) {
    root.querySelectorAll("[data-action-url]").forEach((el) => {
      el.addEventListener("click", (event) => {
        event.preventDefault();
        if (el.disabled) return;
        action({url: el.dataset.actionUrl, method: el.dataset.actionMethod || "POST",
                body: el.dataset.actionBody ? JSON.parse(el.dataset.actionBody) : undefined,
                confirm: el.dataset.confirm, done: el.dataset.done || "reload"});
      });
    });
  }

  /** Click-to-sort for <table class="sortable"> (client side; for server-side sorting use links). */
  function bindSortable(root = document) {
    root.querySelectorAll("table.sortable").forEach((table) => {
      table.querySelectorAll("th").forEach((th, index) => {
        th.addEventListener("click", () => {
          const body = table.tBodies[0];
          const asc = th.dataset.sort !== "asc";
          table.querySelectorAll("th").forEach((h) => delete h.dataset.sort);
          th.dataset.sort = asc ? "asc" : "desc";
          const rows = Array.from(body.rows);
          const key = (row) => {
            const text = row.cells[index] ? row.cells[index].textContent.trim() : "";
            const num = Number(text);
            return text !== "" && !Number.isNaN(num) ? num : text.toLowerCase();
          };
          rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
          rows.forEach((row) => body.appendChild(row));
        });
      });
    });
  }

  function fmtNum(v) { return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : (v ?? ""); }
  function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""; }
  function escape(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  document.addEventListener("DOMContentLoaded", () => {
    bindActions();
    bindSortable();
    bindProjectPicker();
    whoami().then(applyRole);
    if (!document.body.hasAttribute("data-manual-ready")) ready();
  });

  return {fetchJSON, readJSON, flash, downsample, lineChart, chartBoxes, ready, whoami, allows, applyRole, action, bindActions,
          bindSortable, fmtNum, fmtTime, escape, PALETTE};
})();
window.Keel = Keel;
