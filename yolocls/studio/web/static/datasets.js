/* Datasets page: upload (archive, folder, images + CSV) with progress, then the preparation job's progress. */
"use strict";
(() => {
  const { h, api, upload, events, flash, status } = Studio;
  let chosen = { archive: null, files: [], csv: null };
  const $ = (id) => document.getElementById(id);

  function describe() {
    const c = chosen;
    const text = c.archive ? `archive ${c.archive.name} (${(c.archive.size / 1e6).toFixed(1)} MB)`
      : c.files.length ? `${c.files.length} files${c.csv ? ` + labels ${c.csv.name}` : ""}` : "Nothing chosen yet.";
    $("chosen").textContent = text;
    $("upload-btn").disabled = !c.archive && !c.files.length;
  }

  const isArchive = (f) => /\.(zip|tar|tgz|tar\.gz)$/i.test(f.name);

  /** Files of a dropped folder, with their paths relative to the drop (webkitGetAsEntry). */
  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: prefix + file.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`, out);
      }
    }
  }

  async function onDrop(transfer) {
    const items = [...(transfer.items || [])].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    const dropped = [...transfer.files];
    if (dropped.length === 1 && isArchive(dropped[0])) { chosen = { archive: dropped[0], files: [], csv: null }; describe(); return; }
    const out = [];
    for (const entry of items) await walk(entry, "", out);
    const csv = out.find((f) => /\.csv$/i.test(f.path) && !f.path.includes("/"));
    chosen = { archive: null, files: out.filter((f) => f !== csv), csv: csv ? csv.file : null };
    describe();
  }

  function setup() {
    Studio.dropZone($("drop"), onDrop);
    $("pick-archive").addEventListener("change", (e) => { chosen = { archive: e.target.files[0] || null, files: [], csv: null }; describe(); });
    $("pick-folder").addEventListener("change", (e) => {
      chosen = { archive: null, files: [...e.target.files].map((f) => ({ file: f, path: f.webkitRelativePath || f.name })), csv: chosen.csv };
      describe();
    });
    $("pick-images").addEventListener("change", (e) => {
      chosen = { archive: null, files: [...e.target.files].map((f) => ({ file: f, path: f.name })), csv: chosen.csv };
      describe();
    });
    $("pick-csv").addEventListener("change", (e) => { chosen.csv = e.target.files[0] || null; chosen.archive = null; describe(); });
    $("upload-form").addEventListener("submit", (e) => { e.preventDefault(); send().catch((err) => { flash(err.message); $("upload-btn").disabled = false; }); });
  }

  async function send() {
    flash("");
    const form = new FormData();
    const name = $("ds-name").value.trim();
    if (name) form.append("name", name);
    form.append("split", $("ds-split").value.trim() || "0.8,0.1,0.1");
    form.append("keep_conflicts", $("ds-keep-conflicts").checked ? "true" : "false");
    form.append("labelling", $("ds-labelling").checked ? "true" : "false");
    if (chosen.archive) form.append("file", chosen.archive, chosen.archive.name);
    for (const f of chosen.files) form.append("files", f.file, f.path);
    if (chosen.csv) form.append("labels", chosen.csv, chosen.csv.name);
    $("upload-btn").disabled = true;
    $("progress-box").hidden = false;
    $("progress-label").textContent = "Uploading";
    const bar = $("upload-progress");
    const created = await upload("/datasets", form, (loaded, total) => {
      bar.value = (100 * loaded) / total;
      $("progress-text").textContent = `${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
    });
    bar.value = 100;
    $("progress-label").textContent = `Preparing ${created.dataset.name}`;
    bar.removeAttribute("value");  // indeterminate while every image is checked
    $("progress-text").textContent = "Checking every image…";
    await refresh();
    events(`/jobs/${created.job.id}/events`, (kind, data) => {
      if (kind === "progress" && data.stage === "waiting") {  // Ray has not placed the job yet: why
        $("progress-text").textContent = data.reason;
      } else if (kind === "progress") {
        bar.value = data.total ? (100 * data.done) / data.total : 0;
        $("progress-label").textContent = `Preparing ${created.dataset.name}: ${data.stage}`;
        $("progress-text").textContent = `${data.stage} ${data.done} of ${data.total} images`;
      }
      if (kind === "status") {
        $("progress-label").textContent = data.status === "completed" ? `Prepared ${created.dataset.name}`
          : `Preparing ${created.dataset.name}: ${data.status}`;
        $("progress-text").textContent = `preparation ${data.status}${data.error ? `: ${data.error}` : ""}`;
      }
      if (kind === "status" && data.status === "failed") flash(data.error || "preparation failed");
    }, async () => {
      bar.value = 100;
      await refresh();
      const ds = await api(`/datasets/${created.dataset.id}`);
      $("progress-label").textContent = ds.status === "ready" ? `${ds.name} is ready` : `${ds.name}: ${ds.status}`;
      if (ds.status === "labelling") {
        $("progress-text").textContent = "";
        $("progress-text").append(`${ds.images} images to label (${ds.labelled} labelled), ${ds.skipped_count} skipped. `,
          h("a", { href: `/datasets/${ds.id}/annotate` }, "Start labelling"));
      }
      if (ds.status === "ready") {
        $("progress-text").textContent = "";
        $("progress-text").append(`Ready: ${ds.images} images, ${ds.classes.length} classes, ${ds.skipped.length} skipped. `,
          h("a", { href: `/datasets/${ds.id}` }, "Open the dataset"));
      }
      chosen = { archive: null, files: [], csv: null };
      describe();
    });
  }

  async function refresh() {
    const rows = await api("/datasets");
    const body = document.querySelector("#datasets tbody");
    body.textContent = "";
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No datasets yet: add one above.")));
    for (const d of rows.slice().reverse()) {
      body.append(h("tr", {},
        h("td", {}, h("a", { href: `/datasets/${d.id}` }, d.name)), h("td", {}, status(d.status), d.error ? h("div", { class: "error" }, d.error) : null),
        h("td", { class: "num" }, d.images), h("td", { class: "num" }, d.classes.length),
        h("td", {}, new Date(d.created).toLocaleString()),
        h("td", {}, d.status === "ready" ? h("a", { href: `/train?dataset=${d.id}` }, "Train")
          : d.status === "labelling" ? h("a", { href: `/datasets/${d.id}/annotate` }, "Label") : "")));
    }
  }

  setup();
  describe();
  refresh();
  // datasets uploaded elsewhere (another user, a script) and preparations finishing show up by themselves
  setInterval(() => { if (!document.hidden) refresh().catch(() => {}); }, 5000);
})();
