/* The compare view: one overlaid chart per metric, a param-vs-metric scatter, and the diff table filter. */
"use strict";
(() => {
  const runs = document.body.dataset.runs;
  const points = Keel.readJSON("compare-points");

  async function drawCurves() {
    const x = document.getElementById("x-axis").value;
    const {charts} = await Keel.fetchJSON(`/ui/api/compare/series?runs=${encodeURIComponent(runs)}&x=${x}`);
    const holder = document.getElementById("charts");
    const drawable = charts.filter((c) => c.series.some((s) => s.points > 1));
    document.getElementById("no-charts").hidden = drawable.length > 0;
    const boxes = Keel.chartBoxes(holder, drawable.map((c) => c.key));
    drawable.forEach((c, i) => {
      const total = c.series.reduce((n, s) => n + s.points, 0);
      Keel.lineChart(boxes[i], c.series.map((s) => ({label: s.label, x: s.x, y: s.y})),
                     {title: `${c.key} (${total} points stored)`, xLabel: x, time: x === "time", height: 260});
    });
  }

  function numeric(values) { return values.every((v) => v !== undefined && v !== null && !Number.isNaN(Number(v))); }

  function drawScatter() {
    const param = document.getElementById("scatter-param").value;
    const metric = document.getElementById("scatter-metric").value;
    const el = document.getElementById("scatter");
    const rows = points.filter((p) => p.params[param] !== undefined && p.metrics[metric] !== undefined);
    if (!param || !metric || !rows.length) { el.innerHTML = '<p class="muted">Nothing to plot.</p>'; return; }
    const raw = rows.map((p) => p.params[param]);
    const categories = numeric(raw) ? null : Array.from(new Set(raw)).sort();
    const xs = raw.map((v) => (categories ? categories.indexOf(v) : Number(v)));
    const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
    const data = [order.map((i) => xs[i]), order.map((i) => rows[i].metrics[metric])];
    const names = order.map((i) => rows[i].name);
    el.innerHTML = "";
    if (el.uplot) el.uplot.destroy();
    // a parameter spread over orders of magnitude (learning rates, alphas) reads best on a log axis
    const logX = !categories && data[0].every((v) => v > 0) && data[0][data[0].length - 1] / data[0][0] >= 100;
    const xAxis = {label: param};
    if (logX) {  // label the decades only, at their real value (the default rounds 0.0001 to "0")
      xAxis.values = (u, ticks) => ticks.map((t) => (Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9
        ? String(+t.toPrecision(3)) : ""));
    }
    if (categories) {
      xAxis.splits = () => categories.map((_, i) => i);
      xAxis.values = (u, ticks) => ticks.map((t) => categories[t] ?? "");
    }
    el.uplot = new uPlot({
      width: Math.max(300, el.clientWidth || 600), height: 260, title: `${metric} vs ${param}`,
      scales: {x: categories ? {time: false, range: [-0.5, categories.length - 0.5]} : {time: false, distr: logX ? 3 : 1}},
      axes: [xAxis, {label: metric, size: 60}],
      series: [{label: param, value: (u, v, si, i) => (i == null ? "--" : `${names[i]}: ${categories ? categories[v] : v}`)},
               {label: metric, stroke: Keel.PALETTE[0], paths: () => null, points: {show: true, size: 8, fill: Keel.PALETTE[0]}}],
    }, data, el);
  }

  function fillScatterChoices() {
    const params = Array.from(new Set(points.flatMap((p) => Object.keys(p.params)))).sort();
    const metrics = Array.from(new Set(points.flatMap((p) => Object.keys(p.metrics)))).sort();
    const fill = (id, keys) => {
      const select = document.getElementById(id);
      select.innerHTML = keys.map((k) => `<option>${Keel.escape(k)}</option>`).join("");
      select.addEventListener("change", drawScatter);
    };
    fill("scatter-param", params.filter((k) => numeric(points.map((p) => p.params[k]).filter((v) => v !== undefined))).concat(
      params.filter((k) => !numeric(points.map((p) => p.params[k]).filter((v) => v !== undefined)))));
    fill("scatter-metric", metrics);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("only-diff").addEventListener("change", (e) => {
      document.querySelectorAll("#diff-table tbody tr.same").forEach((tr) => { tr.hidden = e.target.checked; });
    });
    document.getElementById("x-axis").addEventListener("change", () => drawCurves().catch((e) => Keel.flash(e.message)));
    fillScatterChoices();
    drawScatter();
    try {
      await drawCurves();
    } catch (err) {
      Keel.flash(`could not load the curves: ${err.message}`);
    }
    Keel.ready();
  });
})();
