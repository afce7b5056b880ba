/* Operations pages (features, deployments, monitoring, lineage, pipelines): page scripts on top of window.Keel. */
"use strict";
const KeelOps = (() => {
  const esc = (t) => Keel.escape(t);

  /** Features: "Check skew" buttons call /ui/api/features/{view}/skew and show the verdict beside them. */
  function bindSkew() {
    document.querySelectorAll(".skew-button").forEach((button) => {
      button.addEventListener("click", async () => {
        const view = button.dataset.view;
        const out = document.getElementById(`skew-${view}`);
        button.disabled = true;
        out.textContent = "checking…";
        try {
          const r = await Keel.fetchJSON(`/ui/api/features/${encodeURIComponent(view)}/skew?sample=50`);
          const shown = r.mismatches.slice(0, 5).map((m) => `${esc(JSON.stringify(m.key))} ${esc(m.feature)}: ` +
            `online ${esc(m.online)} ≠ offline ${esc(m.offline)}`).join("<br>");
          out.innerHTML = `<span class="badge ${r.ok ? "ok" : "bad"}">${r.matched}/${r.sampled} keys match</span>` +
            (shown ? `<div class="mono">${shown}</div>` : "");
        } catch (err) {
          out.innerHTML = `<span class="error-message">${esc(err.message)}</span>`;
        } finally {
          button.disabled = false;
        }
      });
    });
  }

  /** uPlot histograms: reference vs current as shares of their rows on shared bins (numeric) or categories. */
  function histogram(el, feature) {
    const numeric = feature.kind === "numeric";
    const labels = numeric ? feature.edges.slice(0, -1) : feature.categories.map((_, i) => i);
    const share = (counts) => {
      if (!counts) return labels.map(() => null);
      const total = counts.reduce((a, b) => a + b, 0) || 1;
      return counts.map((c) => c / total);
    };
    const xs = numeric ? labels : labels;
    const bars = uPlot.paths.bars ? uPlot.paths.bars({size: [0.9], align: numeric ? 1 : 0}) : undefined;
    const opts = {
      width: Math.max(280, el.clientWidth || 320), height: 170,
      scales: {x: {time: false}},
      legend: {show: true},
      axes: [{values: numeric ? undefined : (u, ticks) => ticks.map((t) => feature.categories[t] ?? "")},
             {size: 44}],
      series: [{label: feature.name},
               {label: "reference", stroke: "#6b7280", fill: "rgba(107,114,128,0.35)", paths: bars, points: {show: false}},
               {label: "current", stroke: "#dc2626", fill: "rgba(220,38,38,0.35)", paths: bars, points: {show: false}}],
    };
    el.innerHTML = "";
    el.uplot = new uPlot(opts, [xs, share(feature.reference), share(feature.current)], el);
    el.dataset.chartReady = "1";
  }

  /** Colour of a drift score: green far under the threshold, red past it. */
  function heatColour(value, threshold, flagged) {
    if (value === null || value === undefined) return "#f3f4f6";
    if (flagged) return "#dc2626";
    const t = threshold || 1;
    const r = Math.min(1, Math.max(0, value / t));
    const hue = 120 - 80 * r;  // 120 (green) -> 40 (amber) as it nears the threshold
    return `hsl(${hue}, 70%, ${85 - 25 * r}%)`;
  }

  /** Monitoring: the feature × window heatmap as a table of coloured cells (title: score / threshold). */
  function heatmap(el, heat) {
    if (!heat.features.length) { el.innerHTML = '<p class="muted">No drift results yet.</p>'; return; }
    const head = heat.windows.map((w) => `<th class="heat-window" title="${esc(Keel.fmtTime(w))}">` +
      `${esc(Keel.fmtTime(w).slice(11, 19))}</th>`).join("");
    const rows = heat.features.map((f, i) => {
      const cells = heat.values[i].map((v, j) => {
        const flagged = heat.flagged[i][j];
        const title = v === null ? "no result" : `${f} @ ${Keel.fmtTime(heat.windows[j])}: ${Keel.fmtNum(v)} ` +
          `(threshold ${Keel.fmtNum(heat.thresholds[i][j])})${flagged ? " DRIFTED" : ""}`;
        return `<td class="heat-cell${flagged ? " flagged" : ""}" style="background:${heatColour(v, heat.thresholds[i][j], flagged)}" ` +
          `title="${esc(title)}" data-feature="${esc(f)}">${flagged ? "●" : ""}</td>`;
      }).join("");
      return `<tr><th class="heat-feature"><a href="#hist-${esc(f)}">${esc(f)}</a></th>${cells}</tr>`;
    }).join("");
    el.innerHTML = `<table class="heatmap"><thead><tr><th>feature \\ window end</th>${head}</tr></thead>` +
      `<tbody>${rows}</tbody></table>`;
  }

  function monitorPage() {
    const data = Keel.readJSON("monitor-data");
    heatmap(document.getElementById("heatmap"), data.heatmap);
    const grid = document.getElementById("histograms");
    const drifted = (f) => (f.drift && f.drift.flagged ? 0 : 1);
    const features = data.features.slice().sort((a, b) => drifted(a) - drifted(b) || a.name.localeCompare(b.name));
    features.forEach((f) => {
      const card = document.createElement("div");
      card.className = "card hist";
      card.id = `hist-${f.name}`;
      const verdict = f.drift ? `<span class="badge ${f.drift.flagged ? "bad" : "ok"}">${f.drift.flagged ? "drifted" : "stable"}` +
        `</span> <span class="muted">${esc(f.drift.stattest || "")} ${Keel.fmtNum(f.drift.value)}</span>` : "";
      card.innerHTML = `<div><strong>${esc(f.name)}</strong> ${verdict}</div><div class="chart"></div>`;
      grid.appendChild(card);
      histogram(card.querySelector(".chart"), f);
    });
    const seconds = (rows) => rows.map((r) => r.window_end / 1000);
    if (data.performance.length) {
      const keys = Object.keys(data.performance[0]).filter((k) => !k.startsWith("window_"));
      timeChart(document.getElementById("performance"), keys.map((k) => ({label: k, x: seconds(data.performance),
        y: data.performance.map((r) => r[k] ?? null)})), "metric");
    }
    if (data.traffic.length) {
      timeChart(document.getElementById("traffic"), [
        {label: "rows", x: seconds(data.traffic), y: data.traffic.map((r) => r.rows ?? null)},
      ], "rows per window");
    }
    Keel.ready();
  }

  /** A uPlot time chart whose points show (sparse series: a lone bucket is still visible). */
  function timeChart(el, series, yLabel) {
    const opts = {
      width: Math.max(300, el.clientWidth || 400), height: 220,
      scales: {x: {time: true, range: (u, min, max) => (min === max ? [min - 60, max + 60] : [min, max])}},
      axes: [{}, {label: yLabel, size: 60}],
      series: [{}].concat(series.map((s, i) => ({label: s.label, stroke: Keel.PALETTE[i % Keel.PALETTE.length],
        width: 1.5, spanGaps: false, points: {show: true, size: 4}}))),
    };
    el.innerHTML = "";
    if (el.uplot) el.uplot.destroy();
    el.uplot = new uPlot(opts, [series.length ? series[0].x : []].concat(series.map((s) => s.y)), el);
    el.dataset.series = String(series.length);
    el.dataset.chartReady = "1";
  }

  /** Deployments: live charts from /ui/api/deployments/{name}/traffic, polled; the server's own counters as rates. */
  function deploymentPage(name) {
    const rate = document.getElementById("chart-rate");
    const latency = document.getElementById("chart-latency");
    const errors = document.getElementById("chart-errors");
    const summary = document.getElementById("traffic-summary");
    const minutes = () => document.getElementById("minutes").value;
    let first = true;
    async function refresh() {
      try {
        const t = await Keel.fetchJSON(`/ui/api/deployments/${encodeURIComponent(name)}/traffic?minutes=${minutes()}`);
        const versions = Object.keys(t.by_version);
        const series = [{label: "all answered (req/s)", x: t.t, y: t.rate}]
          .concat(versions.map((v) => ({label: `v${v} (req/s)`, x: t.t, y: t.by_version[v]})))
          .concat([{label: "shadow (req/s)", x: t.t, y: t.shadow_rate}]);
        timeChart(rate, series, "requests/s");
        timeChart(latency, [{label: "p50 ms", x: t.t, y: t.p50_ms}, {label: "p99 ms", x: t.t, y: t.p99_ms}], "ms");
        timeChart(errors, [{label: "error rate", x: t.t, y: t.error_rate}], "share of requests");
        summary.textContent = `${t.total_requests} answered requests in the last ${minutes()} min ` +
          `(buckets of ${t.bucket_s} s, from the prediction log)`;
      } catch (err) {
        summary.innerHTML = `<span class="error-message">${esc(err.message)}</span>`;
      }
      if (first) { first = false; Keel.ready(); }
    }
    let last = null;
    async function counters() {
      try {
        const c = await Keel.fetchJSON("/ui/api/server/counters");
        const out = document.getElementById("server-counters");
        if (last && c.at > last.at) {
          const dt = c.at - last.at;
          const n = c.latency_count - last.latency_count;
          out.textContent = `keel server: ${((c.requests - last.requests) / dt).toFixed(2)} req/s, ` +
            `${((c.server_errors - last.server_errors) / dt).toFixed(2)} 5xx/s, ` +
            `${n > 0 ? ((c.latency_sum_s - last.latency_sum_s) / n * 1000).toFixed(1) : "–"} ms mean latency ` +
            `(${c.requests} requests since start)`;
        } else {
          out.textContent = `keel server: ${c.requests} requests since start, ${c.server_errors} 5xx`;
        }
        last = c;
      } catch (_) { /* the counters are a side panel: the traffic charts report errors */ }
    }
    document.getElementById("minutes").addEventListener("change", refresh);
    refresh();
    counters();
    setInterval(() => { if (!document.hidden) { refresh(); counters(); } }, 5000);
  }

  /** Pipelines: "log" buttons load a step's captured output into the page. */
  function bindLogs(runId) {
    document.querySelectorAll(".log-button").forEach((button) => {
      button.addEventListener("click", async () => {
        const node = button.dataset.node;
        const out = document.getElementById(`log-${node}`);
        if (!out.hidden) { out.hidden = true; return; }
        try {
          const r = await Keel.fetchJSON(`/ui/api/pipelines/${encodeURIComponent(runId)}/steps/${encodeURIComponent(node)}/log`);
          out.textContent = (r.truncated ? "… (earlier output cut)\n" : "") + (r.log || "(no output)");
        } catch (err) {
          out.textContent = err.message;
        }
        out.hidden = false;
      });
    });
  }

  const KIND_COLOURS = {dataset_version: "#0891b2", run: "#2563eb", model_version: "#9333ea", alias: "#db2777",
    deployment: "#ea580c", deployment_revision: "#f59e0b", monitor: "#dc2626", feature_view: "#16a34a",
    pipeline_run: "#4f46e5", step_run: "#6366f1", validation: "#65a30d", logged_model: "#7c3aed"};

  /** Lineage: a cytoscape graph; tapping a node opens its page. */
  function lineagePage() {
    const data = Keel.readJSON("lineage-data");
    const el = document.getElementById("graph");
    if (!data || !data.elements.length) { Keel.ready(); return; }
    const cy = cytoscape({
      container: el, elements: data.elements, wheelSensitivity: 0.3, layout: {name: "preset"},
      minZoom: 0.2, maxZoom: 1.4,
      style: [
        {selector: "node", style: {"label": "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 4,
          "background-color": (n) => KIND_COLOURS[n.data("kind")] || "#6b7280", "width": 22, "height": 22,
          "text-wrap": "ellipsis", "text-max-width": 140}},
        {selector: "node[?root]", style: {"border-width": 4, "border-color": "#111827", "width": 30, "height": 30}},
        {selector: "edge", style: {"label": "data(label)", "font-size": 8, "curve-style": "bezier",
          "target-arrow-shape": "triangle", "width": 1.5, "line-color": "#9ca3af", "target-arrow-color": "#9ca3af",
          "color": "#6b7280", "text-rotation": "autorotate"}},
      ],
    });
    // data flows left to right: breadth-first from the sources, levels turned into columns
    cy.layout({name: "breadthfirst", directed: true, roots: cy.nodes().roots(), spacingFactor: 1.2, padding: 30,
               transform: (node, pos) => ({x: pos.y * 1.6, y: pos.x * 0.7})}).run();
    cy.fit(undefined, 30);
    cy.on("tap", "node", (event) => { window.location.assign(event.target.data("href")); });
    cy.on("mouseover", "node", () => { el.style.cursor = "pointer"; });
    cy.on("mouseout", "node", () => { el.style.cursor = ""; });
    window.keelCy = cy;
    el.dataset.nodes = String(cy.nodes().length);
    Keel.ready();
  }

  return {bindSkew, histogram, heatmap, monitorPage, deploymentPage, bindLogs, lineagePage};
})();
window.KeelOps = KeelOps;
