/* Models: versions and the default, deploy a run, and try a model on an image (top-k bars + heatmap). */
"use strict";
(() => {
  const { h, api, raw, post, deployRun, flash, pct } = Studio;
  const $ = (x) => document.getElementById(x);

  let versions = {};  // "model|version" (version "" = default) -> the version's details

  async function loadModels() {
    const models = await api("/models");
    versions = {};
    for (const m of models) for (const v of m.versions) {
      versions[`${m.name}|${v.version}`] = v;
      if (v.default) versions[`${m.name}|`] = v;
    }
    const box = $("models");
    box.textContent = "";
    const pick = $("try-model");
    const before = pick.value;
    pick.textContent = "";
    if (!models.length) { box.append(h("p", { class: "muted" }, "No models yet: deploy a run below.")); pick.append(h("option", { value: "" }, "No models yet")); }
    for (const m of models) {
      pick.append(h("option", { value: `${m.name}|` }, `${m.name} (default: v${m.default_version})`));
      for (const v of m.versions) pick.append(h("option", { value: `${m.name}|${v.version}` }, `${m.name} v${v.version}`));
      box.append(h("div", { class: "card", id: m.name }, h("h3", {}, m.name),
        h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["version", "run", "parity (top-1 agreement)", "created", "default"].map((k) => h("th", {}, k)))),
          h("tbody", {}, m.versions.map((v) => h("tr", {}, h("td", {}, `v${v.version}`), h("td", {}, h("a", { href: `/runs/${encodeURIComponent(v.run)}` }, v.run)),
            h("td", {}, v.parity && v.parity.top1_agreement !== undefined ? pct(v.parity.top1_agreement) : "–"), h("td", {}, new Date(v.created).toLocaleString()),
            h("td", {}, v.default ? h("strong", {}, "default") : h("button", { type: "button", class: "secondary",
              onclick: async () => { await post(`/models/${encodeURIComponent(m.name)}/default`, { version: v.version }); await loadModels(); } }, "Make default")))))))));
    }
    if ([...pick.options].some((o) => o.value === before)) pick.value = before;
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted && [...pick.options].some((o) => o.value === `${wanted}|`)) pick.value = `${wanted}|`;
  }

  async function loadRuns() {
    const runs = (await api("/runs")).filter((r) => r.status === "completed");
    const sel = $("deploy-run");
    sel.textContent = "";
    if (!runs.length) sel.append(h("option", { value: "" }, "No completed runs"));
    for (const r of runs.reverse()) sel.append(h("option", { value: r.run }, `${r.run}${r.top1 !== null && r.top1 !== undefined ? ` (top-1 ${pct(r.top1)})` : ""}`));
    if (!$("deploy-model").value && runs.length) $("deploy-model").value = runs[0].run.split("-")[0].replace(/[^A-Za-z0-9_.-]/g, "") || "model";
  }

  async function deploy(ev) {
    ev.preventDefault();
    $("deploy-btn").disabled = true;
    $("deploy-status").textContent = "Deploying…";
    try {
      const v = await deployRun($("deploy-run").value, $("deploy-model").value.trim(), (text) => { $("deploy-status").textContent = text; });
      $("deploy-status").textContent = `Deployed ${v.model} v${v.version} (parity top-1 agreement ${pct(v.parity.top1_agreement)}).`;
      await loadModels();
      $("try-model").value = `${v.model}|`;
    } catch (e) { $("deploy-status").textContent = ""; flash(e.message); }
    $("deploy-btn").disabled = false;
  }

  async function predict(file, explain) {
    const [model, version] = $("try-model").value.split("|");
    const form = new FormData();
    form.append("file", file, file.name);
    const q = new URLSearchParams({ top_k: $("try-topk").value || "5" });
    if (version) q.set("version", version);
    if (explain) q.set("explain", "true");
    return (await raw(`/models/${encodeURIComponent(model)}/predict?${q}`, { method: "POST", body: form })).json();
  }

  async function tryImage(file) {
    flash("");
    if (!$("try-model").value) { flash("Deploy a model first."); return; }
    const out = $("try-result");
    out.textContent = "Classifying…";
    const v = versions[$("try-model").value];
    const explain = $("try-explain").checked && v && v.heatmaps;
    const note = $("try-explain").checked && v && !v.heatmaps
      ? `this model works at ${v.imgsz || "?"} px; heatmaps are shipped only from 224 px, where they are measured faithful` : "";
    const body = await predict(file, explain);
    const p = body.predictions[0];
    out.textContent = "";
    const picture = p.heatmap ? h("img", { src: `data:image/png;base64,${p.heatmap}`, alt: `heatmap of ${p.top[0].class} over the image` })
      : h("img", { src: URL.createObjectURL(file), alt: "the image" });
    const answer = p.unknown ? h("p", { id: "try-answer" }, h("strong", {}, "unknown"), ` — closest is ${p.top[0].class}, but below the confidence this model needs to answer it`)
      : h("p", { id: "try-answer" }, h("strong", {}, p.class), ` (${pct(p.confidence)})`);
    out.append(h("figure", {}, picture, h("figcaption", { class: "muted" }, p.heatmap ? "Red: where the model saw evidence for the top class" : file.name)),
      h("div", { class: "bars" }, answer, p.top.map((t) => h("div", { class: "bar" }, h("span", {}, t.class),
        h("div", { class: "track", role: "meter", "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": t.confidence.toFixed(3), "aria-label": t.class },
          h("div", { class: "fill", style: `width:${(100 * t.confidence).toFixed(1)}%` })), h("span", { class: "num" }, pct(t.confidence)))),
      note ? h("p", { class: "muted" }, `No heatmap: ${note}`) : null, h("p", { class: "muted" }, `${body.model.name} · ${body.time_ms.toFixed(0)} ms`)));
  }

  Studio.dropZone($("try-drop"), (transfer) => (transfer.files[0] ? tryImage(transfer.files[0]) : null));
  $("try-file").addEventListener("change", (e) => { if (e.target.files[0]) tryImage(e.target.files[0]).catch((err) => flash(err.message)); });
  $("deploy-form").addEventListener("submit", deploy);
  loadModels();
  loadRuns();
})();
