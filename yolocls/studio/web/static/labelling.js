/* The dataset page's labels: progress, classes (add, rename, key, merge, delete), label import and export,
   versions (cut, list, what changed). Everything through /api/v1. */
"use strict";
(() => {
  const { h, api, raw, post, flash, status, events } = Studio;
  const id = document.getElementById("dataset").dataset.id;
  const $ = (x) => document.getElementById(x);
  const base = `/datasets/${encodeURIComponent(id)}`;
  let classes = [];

  async function progress() {
    const p = await api(`${base}/labelling`);
    classes = p.classes;
    $("label-progress").textContent = `${p.labelled} of ${p.total} images labelled · ${p.none} none of these · ${p.unlabelled} unlabelled` +
      (p.last_version ? ` · ${p.changed} change(s) since version ${p.last_version}` : " · no version yet") +
      (Object.keys(p.authors).length ? ` · changes by ${Object.entries(p.authors).map(([a, n]) => `${a} (${n})`).join(", ")}` : "");
    const t = $("classes");
    t.textContent = "";
    t.append(h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", {}, "Key"), h("th", { class: "num" }, "Images"))),
      h("tbody", {}, classes.map((c) => h("tr", {}, h("th", {}, c.name), h("td", {}, c.key ? h("kbd", {}, c.key) : "–"), h("td", { class: "num" }, c.images)))));
    for (const sel of [$("class-pick"), $("class-merge")]) {
      const was = sel.value;
      sel.textContent = "";
      sel.append(...classes.map((c) => h("option", { value: c.name }, c.name)));
      if (classes.some((c) => c.name === was)) sel.value = was;
    }
    const picked = classes.find((c) => c.name === $("class-pick").value);
    if (picked && !$("class-key").value) $("class-key").value = picked.key;
  }

  async function versions() {
    const list = await api(`${base}/versions`);
    const t = $("versions");
    t.textContent = "";
    t.append(h("thead", {}, h("tr", {}, h("th", {}, "Version"), h("th", {}, "Status"), h("th", { class: "num" }, "Images"),
      h("th", {}, "Classes"), h("th", {}, "Cut by"), h("th", {}, "Created"), h("th", {}, ""))));
    t.append(h("tbody", {}, list.length ? list.slice().reverse().map((v) => h("tr", {}, h("th", {}, `v${v.number}`), h("td", {}, status(v.status), v.error ? ` ${v.error}` : ""),
      h("td", { class: "num" }, v.images), h("td", {}, Object.entries(v.counts).map(([c, n]) => `${c} ${n}`).join(", ")),
      h("td", {}, v.author || ""), h("td", {}, new Date(v.created).toLocaleString()),
      h("td", {}, v.number > 1 && v.status === "ready" ? h("button", { type: "button", class: "secondary", onclick: () => diff(v.number) }, `Changes since v${v.number - 1}`) : "")))
      : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No version yet: label images, then cut one."))));
  }

  async function diff(n) {
    const d = await api(`${base}/versions/${n}/diff`);
    const box = $("diff");
    box.textContent = "";
    box.append(h("h3", {}, `v${d.base} → v${d.target}: ${d.added} added, ${d.removed} removed, ${d.relabelled} relabelled`),
      h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Images per class in both versions" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", { class: "num" }, `v${d.base}`), h("th", { class: "num" }, `v${d.target}`))),
        h("tbody", {}, Object.entries(d.counts).map(([c, x]) => h("tr", {}, h("th", {}, c), h("td", { class: "num" }, x.base), h("td", { class: "num" }, x.target)))))),
      h("ul", {}, d.changes.slice(0, 100).map((c) => h("li", {}, `${c.name}: ${c.before || "–"} → ${c.after || "–"}`))));
  }

  const act = (fn) => (ev) => { if (ev) ev.preventDefault(); flash(""); fn().catch((e) => flash(e.message)); };

  $("class-add-form").addEventListener("submit", act(async () => {
    await post(`${base}/classes`, { name: $("class-add").value.trim() });
    $("class-add").value = "";
    await progress();
  }));
  $("class-pick").addEventListener("change", () => {
    const c = classes.find((x) => x.name === $("class-pick").value);
    $("class-key").value = c ? c.key : "";
    $("class-name").value = "";
  });
  const patch = (body) => api(`${base}/classes/${encodeURIComponent($("class-pick").value)}`, { method: "PATCH",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  $("class-edit-form").addEventListener("submit", act(async () => {
    const body = { key: $("class-key").value.trim().toLowerCase() };
    if ($("class-name").value.trim()) body.name = $("class-name").value.trim();
    await patch(body);
    $("class-name").value = "";
    await progress();
    flash("Class saved.", true);
  }));
  $("class-merge-btn").addEventListener("click", act(async () => { await patch({ merge_into: $("class-merge").value }); $("class-key").value = ""; await progress(); }));
  $("class-delete-btn").addEventListener("click", act(async () => {
    await api(`${base}/classes/${encodeURIComponent($("class-pick").value)}?images=${$("class-delete-images").value}`, { method: "DELETE" });
    $("class-key").value = "";
    await progress();
  }));

  $("import-form").addEventListener("submit", act(async () => {
    const file = $("import-file").files[0];
    const s = await api(`${base}/labels/import?overwrite=${$("import-overwrite").checked}`, { method: "POST",
      headers: { "Content-Type": "text/csv" }, body: await file.arrayBuffer() });
    const box = $("import-summary");
    box.textContent = "";
    box.append(h("p", { class: "ok" }, `${s.rows} rows: ${s.applied} applied, ${s.unchanged} unchanged, ${s.conflict_count} conflicting${$("import-overwrite").checked ? " (overwritten)" : " (kept)"}, ${s.unknown_count} naming no image` +
      (s.new_classes.length ? `; new classes: ${s.new_classes.join(", ")}` : "")),
      s.conflicts.length ? h("details", {}, h("summary", {}, "Conflicts"), h("ul", {}, s.conflicts.map((c) => h("li", {}, `${c.name}: ${c.current} here, ${c.csv} in the CSV`)))) : "",
      s.unknown.length ? h("details", {}, h("summary", {}, "Rows naming no image"), h("ul", {}, s.unknown.map((r) => h("li", {}, `line ${r.line}: ${r.filename} (${r.reason})`)))) : "");
    await progress();
  }));

  $("export-labels").addEventListener("click", act(async () => {
    const blob = await (await raw(`${base}/labels.csv`)).blob();
    const a = h("a", { href: URL.createObjectURL(blob), download: "labels.csv" });
    document.body.append(a);
    a.click();
    a.remove();
  }));

  $("cut-version").addEventListener("click", act(async () => {
    $("cut-version").disabled = true;
    try {
      const made = await post(`${base}/versions`, {});
      $("cut-status").textContent = `Building version ${made.version.number}…`;
      await versions();
      events(`/jobs/${made.job.id}/events`, (kind, data) => {
        if (kind === "progress" && data.stage) $("cut-status").textContent = `Building version ${made.version.number}: ${data.stage}${data.total ? ` ${data.done} of ${data.total}` : ""}…`;
        if (kind === "status" && data.status !== "running" && data.status !== "queued") $("cut-status").textContent = `Version ${made.version.number} ${data.status}${data.error ? `: ${data.error}` : ""}`;
      }, async () => { $("cut-version").disabled = false; await versions(); await progress(); });
    } catch (e) { $("cut-version").disabled = false; throw e; }
  }));

  /** Follow a job to its end in the "Improve the labels" status line. */
  function follow(job, what) {
    $("improve-status").textContent = `${what}: queued…`;
    events(`/jobs/${job.id}/events`, (kind, data) => {
      if (kind === "progress" && data.stage) $("improve-status").textContent = `${what}: ${data.stage}${data.total ? ` ${data.done} of ${data.total}` : ""}…`;
      if (kind === "status") $("improve-status").textContent = `${what}: ${data.status}${data.error ? ` (${data.error})` : ""}`;
    }, async () => {
      const done = await api(`/jobs/${job.id}`);
      const p = done.params || {};
      $("improve-status").textContent = `${what}: ${done.status}` + (done.error ? ` (${done.error})` : "") +
        (p.stored !== undefined ? ` · ${p.stored} image(s) with a suggestion` : "") + (p.added !== undefined ? ` · ${p.added} image(s) added` : "");
      await progress();
    });
  }

  async function models() {
    const list = await api("/models").catch(() => []);
    for (const sel of [$("suggest-model"), $("capture-model")]) {
      sel.textContent = "";
      if (!list.length) sel.append(h("option", { value: "" }, "No deployed model yet"));
      sel.append(...list.map((m) => h("option", { value: m.name }, m.name)));
    }
  }

  $("suggest-form").addEventListener("submit", act(async () => {
    follow(await post(`${base}/suggestions`, { model: $("suggest-model").value }), "Suggestions");
  }));
  $("check-form").addEventListener("submit", act(async () => {
    follow(await post(`${base}/label-check`, { folds: parseInt($("check-folds").value, 10), epochs: parseInt($("check-epochs").value, 10),
      imgsz: parseInt($("check-imgsz").value, 10) }), "Label check");
  }));
  $("capture-form").addEventListener("submit", act(async () => {
    follow(await post(`${base}/captures/import`, { model: $("capture-model").value }), "Captured images");
  }));

  async function start() {
    const ds = await api(base);
    if (ds.status === "preparing") { setTimeout(start, 1000); return; }
    if (ds.status !== "labelling" && ds.status !== "ready") return;
    $("labelling").hidden = false;
    $("versions-section").hidden = false;
    $("improve").hidden = false;
    models();
    await progress();
    await versions();
  }
  start();
})();
