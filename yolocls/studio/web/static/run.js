/* Run dashboard: live curves over Server-Sent Events, status, ETA, cancel/resume, the evaluation preview with
   an epoch slider; after training the confusion matrix (cells open their images), per-class table, mistakes. */
"use strict";
(() => {
  const { h, api, raw, post, img, events, deployRun, flash, pct, num, duration, status, runImage } = Studio;
  const run = document.getElementById("run").dataset.run;
  const $ = (x) => document.getElementById(x);
  const RUNNING = new Set(["queued", "running"]);
  let reportHtml = "";  // the report page's path in the run folder (the API's links.report_html)
  let epochs = [];
  let job = null;
  let stop = null;
  let planned = 0;
  window.studioEpochSeen = {};  // epoch -> Date.now() when it reached the page (for latency measurements)

  const charts = {
    loss: Studio.lineChart($("chart-loss"), "Loss", "loss"),
    acc: Studio.lineChart($("chart-acc"), "Accuracy (val)", "accuracy", { range: [0, 1] }),
    prf: Studio.lineChart($("chart-prf"), "Precision / recall / F1 (val, macro)", "score", { range: [0, 1] }),
    conf: Studio.lineChart($("chart-conf"), "Average confidence (val)", "probability", { range: [0, 1] }),
  };

  function draw() {
    const x = epochs.map((e) => e.epoch);
    const col = (k) => epochs.map((e) => (e[k] === null || e[k] === undefined ? null : e[k]));
    charts.loss.update(x, [{ label: "train loss", values: col("train_loss") }, { label: "val loss", values: col("val_loss") }]);
    charts.acc.update(x, [{ label: "top-1", values: col("top1") }, { label: "top-5", values: col("top5") }]);
    charts.prf.update(x, [{ label: "precision", values: col("precision") }, { label: "recall", values: col("recall") }, { label: "F1", values: col("f1") }]);
    charts.conf.update(x, [{ label: "avg confidence", values: col("avg_confidence") }]);
    const t = $("epochs-table");
    t.textContent = "";
    const keys = ["epoch", "train_loss", "val_loss", "top1", "top5", "precision", "recall", "f1", "avg_confidence", "seconds"];
    t.append(h("thead", {}, h("tr", {}, keys.map((k) => h("th", { class: "num" }, k)))),
      h("tbody", {}, epochs.map((e) => h("tr", {}, keys.map((k) => h("td", { class: "num" }, k === "epoch" ? e[k] : num(e[k])))))));
    $("epoch").textContent = planned ? `${x.length ? x[x.length - 1] : 0} / ${planned}` : String(x.length);
  }

  function showJob() {
    const s = job ? job.status : "no job (a run from the command line)";
    $("status").textContent = "";
    $("status").append(job ? status(job.status) : s, job && job.error ? h("span", { class: "error" }, ` ${job.error}`) : "",
      job && job.status === "queued" && job.waiting ? h("span", { class: "muted" }, ` ${job.waiting}`) : "");
    $("eta").textContent = job && job.status === "running" ? duration(job.eta_s) : "–";
    $("cancel").hidden = !(job && RUNNING.has(job.status));
    $("resume").hidden = !(job && (job.status === "cancelled" || job.status === "interrupted"));
  }

  async function refreshJob() {
    if (!job) return;
    job = await api(`/jobs/${job.id}`);
    planned = job.epochs || planned;
    showJob();
  }

  function follow() {
    if (stop) stop();
    stop = events(`/jobs/${job.id}/events`, (kind, data) => {
      if (kind === "epoch") {
        window.studioEpochSeen[data.epoch] = Date.now();
        planned = data.epochs || planned;
        epochs = epochs.filter((e) => e.epoch !== data.epoch).concat([data]).sort((a, b) => a.epoch - b.epoch);
        draw();
        loadPreview(null);
        refreshJob();
      } else if (kind === "progress" && data.stage) {  // waiting for Ray to place it, resumed automatically
        refreshJob();
      } else if (kind === "progress") {  // within an epoch, every few seconds
        window.studioBatchesSeen = (window.studioBatchesSeen || 0) + 1;
        planned = data.epochs || planned;
        const done = epochs.length ? epochs[epochs.length - 1].epoch : 0;
        $("epoch").textContent = `${done} / ${planned} · epoch ${data.epoch}: batch ${data.batch} / ${data.batches}`;
        if (data.eta_s !== null && data.eta_s !== undefined) $("eta").textContent = duration(data.eta_s);
      } else if (kind === "status") {
        if (job) job.status = data.status;
        showJob();
        refreshJob();
      }
    }, async () => { await refreshJob(); if (epochs.length) await loadAfter(); });
  }

  async function loadPreview(epoch) {
    let p;
    try { p = await api(`/runs/${encodeURIComponent(run)}/preview${epoch ? `?epoch=${epoch}` : ""}`); }
    catch (e) { if (e.status === 404) return; throw e; }
    const slider = $("preview-epoch");
    if (p.epochs.length) {
      slider.min = p.epochs[0]; slider.max = p.epochs[p.epochs.length - 1]; slider.disabled = p.epochs.length < 2;
      slider.value = p.epoch; $("preview-epoch-out").textContent = p.epoch;
    }
    const box = $("preview");
    box.textContent = "";
    p.images.forEach((im, i) => {
      const pred = p.predictions ? p.predictions.pred[i] : null;
      const conf = p.predictions ? p.predictions.confidence[i] : null;
      const right = pred === im.true;
      box.append(h("figure", { class: `thumb ${right ? "right" : "wrong"}`, "data-path": im.path }, img(runImage(run, im.path, 192), im.path),
        h("figcaption", {}, `true ${im.true}`, h("br"), `pred ${pred} (${num(conf, 2)})`, right ? "" : h("span", { class: "visually-hidden" }, " wrong"))));
    });
    if (!p.epochs.length || p.epoch === p.epochs[p.epochs.length - 1]) relabelIn(box);  // once, at the last epoch
  }

  let cm = null;
  function drawMatrix() {
    const norm = $("normalise").checked;
    const t = $("cm");
    t.textContent = "";
    t.append(h("thead", {}, h("tr", {}, h("th", {}, "true \\ predicted"), cm.classes.map((c) => h("th", { class: "rot", scope: "col", title: c }, c)))));
    const body = h("tbody");
    cm.matrix.forEach((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      body.append(h("tr", {}, h("th", { scope: "row" }, cm.classes[i]), row.map((v, j) => {
        const share = v / total;
        const bg = i === j ? `rgba(26,127,55,${0.12 + 0.7 * share})` : `rgba(180,35,24,${v ? 0.12 + 0.7 * share : 0})`;
        return h("td", { style: `background:${bg}` }, h("button", { type: "button", "aria-label": `${v} images of ${cm.classes[i]} predicted ${cm.classes[j]}`,
          onclick: () => showCell(cm.classes[i], cm.classes[j]) }, norm ? share.toFixed(2) : v));
      })));
    });
    t.append(body);
  }

  async function showCell(truth, predicted) {
    const rows = await api(`/runs/${encodeURIComponent(run)}/predictions?true=${encodeURIComponent(truth)}&predicted=${encodeURIComponent(predicted)}&limit=48`);
    const box = $("cell");
    box.textContent = "";
    box.append(h("h4", {}, `True ${truth}, predicted ${predicted}: ${rows.length}${rows.length === 48 ? "+" : ""} image${rows.length === 1 ? "" : "s"}`),
      h("div", { class: "thumbs" }, rows.map((r) => h("figure", { class: `thumb ${truth === predicted ? "right" : "wrong"}`, "data-path": r.path },
        img(runImage(run, r.path, 192), r.path), h("figcaption", {}, `${num(r.confidence, 2)}`)))));
    relabelIn(box);
  }

  /** A label picker under each image of `box` whose run trained on a studio dataset: a change goes to the
      dataset's working copy (refused, with the current label shown, when someone changed it meanwhile). */
  async function relabelIn(box) {
    const figures = [...box.querySelectorAll("figure[data-path]")];
    if (!figures.length) return;
    const q = figures.map((f) => `paths=${encodeURIComponent(f.dataset.path)}`).join("&");
    const src = await api(`/runs/${encodeURIComponent(run)}/source?${q}`);
    if (!src.dataset) return;
    const note = (changed) => {
      $("relabel-note").hidden = false;
      $("relabel-note").textContent = `${changed} label change(s) in dataset since version ${src.last_version}: `;
      $("relabel-note").append(h("a", { href: `/datasets/${src.dataset}` }, "cut a new version"), " to train on them.");
    };
    note(src.changed);
    for (const f of figures) {
      const im = src.images[f.dataset.path];
      if (!im) continue;
      const current = im.state === "none" ? "\u0000none" : im.label || "";
      const sel = h("select", { "aria-label": `Label of ${f.dataset.path}`, class: "relabel" },
        h("option", { value: "" }, "(unlabelled)"), src.classes.map((c) => h("option", { value: c.name }, c.name)),
        h("option", { value: "\u0000none" }, "none of these"));
      sel.value = current;
      sel.addEventListener("change", async () => {
        const none = sel.value === "\u0000none";
        try {
          const res = await api(`/datasets/${src.dataset}/images/${im.id}/label`, { method: "PUT", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ label: none || !sel.value ? null : sel.value, none, revision: im.revision }) });
          im.revision = res.revision;
          note((await api(`/datasets/${src.dataset}/labelling`)).changed);
        } catch (e) { flash(e.message); sel.value = current; }
      });
      f.append(sel);
    }
  }

  async function loadAfter() {
    const detail = await api(`/runs/${encodeURIComponent(run)}`);
    epochs = detail.epochs;
    if (detail.record) {
      planned = detail.record.epochs_planned || planned;
      $("what").textContent = `${detail.record.dataset.split("/").pop()} · ${detail.record.preset || "–"}`;
    }
    draw();
    if (!detail.report) return;
    const r = detail.report;
    $("after-note").hidden = true;
    $("after-body").hidden = false;
    $("deploy-form").hidden = false;
    reportHtml = detail.links.report_html || "";
    $("report-link").hidden = !reportHtml;
    $("headline").textContent = `${r.split}: ${r.images} images · top-1 ${pct(r.top1)} · macro F1 ${num(r.macro.f1)} · ECE ${num(r.ece)}`;
    if (detail.links.openset) {
      const o = await api(`/runs/${encodeURIComponent(run)}/files/${detail.links.openset}`);
      const point = o.operating_point;
      $("openset").textContent = `"Unknown" answers: with the thresholds fitted on ${o.fitted_on} (target precision ` +
        `${o.policy.target_precision}), the model answers ${pct(point.coverage)} of ${o.evaluated_on} with accuracy ` +
        `${pct(point.accuracy)} and says "unknown" for the rest; calibration error ${num(o.ece_before)} → ${num(o.ece_after)}.` +
        (o.fitted_images < 200 ? ` Fitted on only ${o.fitted_images} ${o.fitted_on} images: expect these numbers to move with more data.` : "");
    }
    cm = await api(`/runs/${encodeURIComponent(run)}/confusion`);
    drawMatrix();
    const t = $("per-class");
    t.textContent = "";
    t.append(h("thead", {}, h("tr", {}, ["class", "precision", "recall", "F1", "support", "avg confidence"].map((k, i) => h("th", { class: i ? "num" : "" }, k)))),
      h("tbody", {}, Object.entries(r.per_class).map(([c, m]) => h("tr", {}, h("th", {}, c), h("td", { class: "num" }, num(m.precision)),
        h("td", { class: "num" }, num(m.recall)), h("td", { class: "num" }, num(m.f1)), h("td", { class: "num" }, m.support), h("td", { class: "num" }, num(m.avg_confidence))))));
    const wrong = await api(`/runs/${encodeURIComponent(run)}/predictions?wrong=true&limit=12`);
    const box = $("mistakes");
    box.textContent = "";
    if (!wrong.length) box.append(h("p", { class: "muted" }, "No mistakes on this split."));
    for (const m of wrong) box.append(h("figure", { class: "thumb wrong", "data-path": m.path }, img(runImage(run, m.path, 192), m.path),
      h("figcaption", {}, `true ${m.true}`, h("br"), `pred ${m.predicted} (${num(m.confidence, 2)})`)));
    relabelIn(box);
  }

  async function openReport(ev) {
    ev.preventDefault();
    const w = window.open("", "_blank");
    const blob = await (await raw(`/runs/${encodeURIComponent(run)}/files/${reportHtml}`)).blob();
    const url = URL.createObjectURL(new Blob([blob], { type: "text/html" }));
    if (w) w.location = url; else location.href = url;
  }

  async function deploy(ev) {
    ev.preventDefault();
    $("deploy").disabled = true;
    $("deploy-result").textContent = "Deploying…";
    try {
      const v = await deployRun(run, $("deploy-name").value.trim(), (text) => { $("deploy-result").textContent = text; });
      $("deploy-result").textContent = "";
      $("deploy-result").append(`Deployed ${v.model} v${v.version}. `, h("a", { href: `/models#${encodeURIComponent(v.model)}` }, "Try it"));
    } catch (e) { $("deploy-result").textContent = ""; flash(e.message); }
    $("deploy").disabled = false;
  }

  const TERMINAL = new Set(["completed", "failed", "cancelled", "interrupted"]);

  async function load() {
    const wanted = new URLSearchParams(location.search).get("job");
    const jobs = await api("/jobs");
    const mine = jobs.filter((j) => j.run === run && j.kind === "train");  // (deploy jobs name their run too)
    job = mine.find((j) => j.id === wanted) || mine[0] || null;
    $("deploy-name").value = run.split("-")[0].replace(/[^A-Za-z0-9_.-]/g, "") || "model";
    if (!job) {  // a run from the command line: everything is on disk already
      showJob();
      await loadAfter();
      if (epochs.length) await loadPreview(null);
      return;
    }
    await refreshJob();
    const opts = (job.params && job.params.options) || {};
    $("what").textContent = `${(opts.data || "").split("/").pop()} · ${opts.preset || "–"}`;
    epochs = job.metrics || [];
    draw();
    if (epochs.length) await loadPreview(null);
    if (TERMINAL.has(job.status)) { if (epochs.length) await loadAfter(); } else follow();
  }

  $("cancel").addEventListener("click", async () => { await post(`/jobs/${job.id}/cancel`); await refreshJob(); });
  $("resume").addEventListener("click", async () => {
    await post(`/jobs/${job.id}/resume`);
    await refreshJob();
    $("after-note").hidden = false;
    $("after-body").hidden = true;
    follow();
  });
  $("normalise").addEventListener("change", () => cm && drawMatrix());
  $("log-box").addEventListener("toggle", async () => {
    if (!$("log-box").open) return;
    $("log").textContent = job ? await (await raw(`/jobs/${job.id}/log`)).text() || "(empty)" : "This run was not started by the studio.";
  });
  $("preview-epoch").addEventListener("input", (e) => { $("preview-epoch-out").textContent = e.target.value; });
  $("preview-epoch").addEventListener("change", (e) => loadPreview(e.target.value));
  $("report-link").addEventListener("click", (e) => openReport(e).catch((err) => flash(err.message)));
  $("deploy-form").addEventListener("submit", deploy);
  load();
})();
