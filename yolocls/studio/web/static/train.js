/* New training: a dataset, a preset (its settings shown), the common settings editable; start a job. */
"use strict";
(() => {
  const { h, api, post, flash } = Studio;
  const $ = (x) => document.getElementById(x);
  let book = null;

  function showPreset() {
    const p = book.presets.find((x) => x.name === $("preset").value);
    if (!p) return;
    $("preset-description").textContent = `${p.description} (model ${p.model})`;
    $("epochs").value = p.args.epochs || "";
    $("imgsz").value = p.args.imgsz || "";
    $("aug").value = p.aug;
    $("balance").value = p.balance || "auto";
    showArgs();
  }

  function showArgs() {
    const p = book.presets.find((x) => x.name === $("preset").value);
    const aug = book.augmentations[$("aug").value] || {};
    const body = $("preset-args");
    body.textContent = "";
    body.append(h("thead", {}, h("tr", {}, h("th", {}, "argument"), h("th", {}, "value"), h("th", {}, "from"))));
    const rows = h("tbody");
    const yours = { epochs: parseInt($("epochs").value, 10), imgsz: parseInt($("imgsz").value, 10) };
    for (const [k, v] of Object.entries(p.args)) {
      const changed = yours[k] && yours[k] !== v;  // the form's value is what the job will use
      rows.append(h("tr", {}, h("td", {}, h("code", {}, k)), h("td", {}, JSON.stringify(changed ? yours[k] : v)),
        h("td", { class: "muted" }, changed ? `your setting (preset: ${JSON.stringify(v)})` : "preset")));
    }
    for (const [k, v] of Object.entries(aug)) rows.append(h("tr", {}, h("td", {}, h("code", {}, k)), h("td", {}, JSON.stringify(v)), h("td", { class: "muted" }, `augmentation ${$("aug").value}`)));
    body.append(rows);
  }

  async function start(ev) {
    ev.preventDefault();
    flash("");
    const p = book.presets.find((x) => x.name === $("preset").value);
    const body = { dataset: $("dataset").value, preset: p.name, device: $("device").value };
    const epochs = parseInt($("epochs").value, 10), imgsz = parseInt($("imgsz").value, 10);
    if (epochs && epochs !== p.args.epochs) body.epochs = epochs;
    if (imgsz && imgsz !== p.args.imgsz) body.imgsz = imgsz;
    if ($("aug").value !== p.aug) body.aug = $("aug").value;
    if ($("balance").value !== (p.balance || "auto")) body.balance = $("balance").value;
    if ($("version").value) body.version = parseInt($("version").value, 10);
    $("start").disabled = true;
    try {
      const job = await post("/jobs", body);
      location.href = `/runs/${encodeURIComponent(job.run)}?job=${job.id}`;
    } catch (e) { flash(e.message); $("start").disabled = false; }
  }

  async function load() {
    const [datasets, presets] = await Promise.all([api("/datasets"), api("/presets")]);
    book = presets;
    const want = new URLSearchParams(location.search).get("dataset");
    const ds = $("dataset");
    ds.textContent = "";
    const ready = datasets.filter((d) => d.status === "ready");
    if (!ready.length) { ds.append(h("option", { value: "" }, "No ready dataset: add one first")); $("start").disabled = true; }
    for (const d of ready) ds.append(h("option", { value: d.id, selected: d.id === want }, `${d.name} (${d.images} images, ${d.classes.length} classes)`));
    for (const p of presets.presets) $("preset").append(h("option", { value: p.name, selected: p.name === "small-fast" }, p.name));
    for (const a of Object.keys(presets.augmentations)) $("aug").append(h("option", { value: a }, a));
    showPreset();
    await versions();
  }

  /** The chosen dataset's versions (a dataset labelled in the studio); "the latest" by default. */
  async function versions() {
    const sel = $("version");
    sel.textContent = "";
    sel.append(h("option", { value: "" }, "The latest"));
    if (!$("dataset").value) return;
    const ready = (await api(`/datasets/${encodeURIComponent($("dataset").value)}/versions`).catch(() => []))
      .filter((v) => v.status === "ready");
    for (const v of ready.reverse()) sel.append(h("option", { value: v.number }, `v${v.number} (${v.images} images)`));
  }

  $("preset").addEventListener("change", showPreset);
  $("dataset").addEventListener("change", versions);
  $("aug").addEventListener("change", showArgs);
  $("epochs").addEventListener("input", showArgs);
  $("imgsz").addEventListener("input", showArgs);
  $("train-form").addEventListener("submit", start);
  load();
})();
