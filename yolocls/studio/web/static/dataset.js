/* One dataset: counts per class and split (chart + table), warnings, samples, duplicates, skipped files. */
"use strict";
(() => {
  const { h, api, raw, post, events, img, flash, status, datasetImage, COLOURS } = Studio;
  const id = document.getElementById("dataset").dataset.id;
  const $ = (x) => document.getElementById(x);

  /** Stacked bars (uPlot): one bar per class, a segment per split (drawn as cumulative sums, largest first). */
  function countsChart(ds) {
    const splits = Object.keys(ds.counts);
    const x = ds.classes.map((_, i) => i);
    const per = splits.map((s) => ds.classes.map((c) => (ds.counts[s] || {})[c] || 0));
    const cumulative = per.map((_, i) => ds.classes.map((_, j) => per.slice(0, i + 1).reduce((a, row) => a + row[j], 0)));
    const order = splits.map((_, i) => splits.length - 1 - i);
    const el = $("counts-chart");
    const spec = {
      width: Math.max(300, el.clientWidth || 600), height: 260, legend: { show: false },
      scales: { x: { time: false, range: [-0.6, ds.classes.length - 0.4] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi) * 1.05] } },
      axes: [{ splits: () => x, values: (u, ticks) => ticks.map((t) => ds.classes[t] || "") }, { label: "images" }],
      series: [{}, ...order.map((i) => ({ label: splits[i], fill: COLOURS[i], stroke: COLOURS[i],
        paths: uPlot.paths.bars({ size: [0.7, 80] }), points: { show: false } }))],
    };
    el.textContent = "";
    new uPlot(spec, [x, ...order.map((i) => cumulative[i])], el);
    el.append(h("p", { class: "muted" }, splits.map((s, i) => h("span", { style: `color:${COLOURS[i]};margin-right:1rem` }, `■ ${s}`))));
  }

  function countsTable(ds) {
    const splits = Object.keys(ds.counts);
    const t = $("counts");
    t.textContent = "";
    t.append(h("thead", {}, h("tr", {}, h("th", {}, "class"), splits.map((s) => h("th", { class: "num" }, s)), h("th", { class: "num" }, "total"))));
    const body = h("tbody");
    for (const c of ds.classes) {
      const vals = splits.map((s) => (ds.counts[s] || {})[c] || 0);
      body.append(h("tr", {}, h("th", {}, c), vals.map((v) => h("td", { class: "num" }, v)), h("td", { class: "num" }, vals.reduce((a, b) => a + b, 0))));
    }
    t.append(body);
  }

  function samples(ds) {
    const box = $("samples");
    box.textContent = "";
    for (const [cls, paths] of Object.entries(ds.samples)) {
      box.append(h("h3", {}, cls), h("div", { class: "thumbs" }, paths.map((p) =>
        h("figure", { class: "thumb" }, img(datasetImage(id, p, 192), `${cls}: ${p}`)))));
    }
  }

  function duplicates(ds) {
    const box = $("duplicates");
    box.textContent = "";
    box.className = "";
    if (!ds.duplicates.length) { box.className = "muted"; box.textContent = "No duplicates found."; return; }
    Studio.paged(box, ds.duplicates, (g) => h("div", { class: "card" }, h("p", {}, h("strong", {}, g.kind === "exact" ? "Exact copies" : "Near-duplicates"), ` (${g.labels.join(", ")}): ${g.action}`),
      h("div", { class: "thumbs" }, g.files.map((f, i) => h("figure", { class: "thumb" },
        g.images[i] ? img(datasetImage(id, g.images[i], 192), f) : h("div", { class: "muted" }, "(not kept)"),
        // a kept file's class is the folder it was written to (g.labels lists the group's distinct classes)
        h("figcaption", {}, g.images[i] ? `${f} · ${g.images[i].split("/")[1]}` : f))))), 20);
  }

  async function load() {
    const ds = await api(`/datasets/${id}`);
    document.getElementById("page-title").textContent = `Dataset ${ds.name}`;
    document.title = `${ds.name} · yolocls studio`;
    const s = $("summary");
    s.textContent = "";
    s.append(status(ds.status), ds.status === "labelling" ? ` ${ds.images} images to label (${ds.labelled} labelled), ${ds.skipped_count} skipped.`
      : ` ${ds.images} images, ${ds.classes.length} classes, ${ds.skipped_count} skipped, ${ds.duplicate_groups} duplicate groups` +
        (ds.version ? ` (version ${ds.version}).` : "."));
    if (ds.error) flash(ds.error);
    if (ds.status === "preparing") { setTimeout(load, 1000); return; }
    if (ds.status === "labelling") { skipped(ds); return; }
    if (ds.status !== "ready") return;
    $("train-link").hidden = false;
    countsChart(ds);
    countsTable(ds);
    const w = $("warnings");
    w.textContent = "";
    if (!ds.warnings.length) w.append(h("li", { class: "muted" }, "None."));
    for (const m of ds.warnings) w.append(h("li", { class: "warn" }, m));
    samples(ds);
    duplicates(ds);
    $("curve-form").hidden = false;
    showCurve();
    skipped(ds);
  }

  function skipped(ds) {
    const body = document.querySelector("#skipped tbody");
    body.textContent = "";
    if (!ds.skipped.length) body.append(h("tr", {}, h("td", { colspan: 2, class: "muted" }, "Nothing was skipped.")));
    const rows = ds.skipped.map((f) => h("tr", {}, h("td", {}, f.path), h("td", {}, f.reason)));
    body.append(...rows.slice(0, 100));
    if (rows.length > 100) {  // a big dataset can skip thousands: the rest on demand
      const more = h("button", { type: "button", class: "secondary" }, `Show all ${rows.length} skipped files`);
      more.addEventListener("click", () => { body.append(...rows.slice(100)); more.remove(); });
      $("skipped").after(more);
    }
  }

  /** The latest learning curve: verdict, plot (fetched with the key) and its points. */
  async function showCurve() {
    const curve = await api(`/datasets/${id}/learning-curve`);
    if (!curve.job) return;
    $("curve-verdict").textContent = curve.verdict;
    const blob = await (await raw(`/datasets/${id}/learning-curve/plot`)).blob();
    const pts = curve.points.map((p) => `${Math.round(p.images_per_class)} per class: ${p.split} top-1 ${p.test_top1.toFixed(3)}`);
    $("curve-plot").textContent = "";
    $("curve-plot").append(h("img", { src: URL.createObjectURL(blob), width: 640, height: 420, class: "plot",
      alt: `Learning curve: ${pts.join("; ")}` }));
  }

  $("curve-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    flash("");
    $("curve-start").disabled = true;
    try {
      const job = await post(`/datasets/${id}/learning-curve`, { epochs: parseInt($("curve-epochs").value, 10),
        imgsz: parseInt($("curve-imgsz").value, 10) });
      $("curve-status").textContent = "Queued…";
      events(`/jobs/${job.id}/events`, (kind, data) => {
        if (kind === "progress" && data.stage === "training") $("curve-status").textContent = `Training point ${data.point} of ${data.points} (${Math.round(data.fraction * 100)} % of the images)…`;
        else if (kind === "progress" && data.stage === "waiting") $("curve-status").textContent = data.reason;
        else if (kind === "status") $("curve-status").textContent = `Learning curve ${data.status}${data.error ? `: ${data.error}` : ""}`;
      }, async () => { $("curve-start").disabled = false; await showCurve(); });
    } catch (e) { flash(e.message); $("curve-start").disabled = false; }
  });

  load();
})();
