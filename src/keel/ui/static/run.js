/* The run page: metric charts (downsampled server-side) and the artifact browser with inline previews. */
"use strict";
(() => {
  const runId = document.body.dataset.runId;
  const api = `/ui/api/runs/${encodeURIComponent(runId)}`;

  async function drawCharts() {
    const x = document.getElementById("x-axis").value;
    const holder = document.getElementById("charts");
    const {series} = await Keel.fetchJSON(`${api}/series?x=${x}`);
    const drawable = series.filter((s) => s.points > 1);
    document.getElementById("no-charts").hidden = drawable.length > 0;
    const boxes = Keel.chartBoxes(holder, drawable.map((s) => s.key));
    drawable.forEach((s, i) => {
      Keel.lineChart(boxes[i], [{label: s.key, x: s.x, y: s.y}],
                     {title: `${s.key} (${s.points} points)`, xLabel: x, time: x === "time", height: 220});
    });
  }

  function fmtSize(n) {
    if (n == null) return "";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  async function listFolder(path, container, prefixRef) {
    const data = await Keel.fetchJSON(`${api}/artifacts?path=${encodeURIComponent(path)}`);
    prefixRef.prefix = data.download_prefix;
    const list = document.createElement("ul");
    list.className = "tree";
    if (!data.files.length && !path) container.innerHTML = '<span class="muted">No artifacts.</span>';
    for (const f of data.files) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#";
      link.textContent = f.is_dir ? `▸ ${f.name}/` : `${f.name}`;
      link.dataset.path = f.path;
      link.className = f.is_dir ? "artifact-dir" : "artifact-file";
      item.appendChild(link);
      if (!f.is_dir) item.insertAdjacentHTML("beforeend", ` <span class="muted">${fmtSize(f.size)}</span>`);
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        if (f.is_dir) {
          if (item.dataset.open) { item.querySelector("ul")?.remove(); delete item.dataset.open; return; }
          item.dataset.open = "1";
          await listFolder(f.path, item, prefixRef);
        } else {
          await preview(f, prefixRef.prefix);
        }
      });
      list.appendChild(item);
    }
    if (!path) container.innerHTML = "";
    container.appendChild(list);
  }

  async function preview(file, prefix) {
    const box = document.getElementById("artifact-preview");
    const url = `${api}/preview?path=${encodeURIComponent(file.path)}`;
    const download = `${prefix}${file.path.split("/").map(encodeURIComponent).join("/")}`;
    box.innerHTML = `<div class="toolbar"><strong class="grow">${Keel.escape(file.path)}</strong>
      <a id="artifact-download" href="${download}" download>Download</a></div><div id="preview-body"></div>`;
    const body = document.getElementById("preview-body");
    const response = await fetch(url, {credentials: "same-origin"});
    if (!response.ok) {
      body.innerHTML = `<p class="error-message">${Keel.escape(await response.text())}</p>`;
      return;
    }
    const kind = response.headers.get("X-Keel-Preview");
    box.dataset.kind = kind;
    if (kind === "image") {
      const img = document.createElement("img");
      img.src = url; img.alt = file.path;
      body.appendChild(img);
    } else if (kind === "html") {
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "");
      frame.src = url;
      body.appendChild(frame);
    } else if (kind === "json" || kind === "text") {
      let text = await response.text();
      if (kind === "json") { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* jsonl */ } }
      const pre = document.createElement("pre");
      pre.textContent = text;
      body.appendChild(pre);
    } else {
      body.innerHTML = '<p class="muted">No inline preview for this file (binary or too large): download it.</p>';
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("x-axis").addEventListener("change", () => drawCharts().catch((e) => Keel.flash(e.message)));
    try {
      await Promise.all([drawCharts(), listFolder("", document.getElementById("artifact-tree"), {})]);
    } catch (err) {
      Keel.flash(`could not load the run's charts or artifacts: ${err.message}`);
    }
    Keel.ready();
  });
})();
