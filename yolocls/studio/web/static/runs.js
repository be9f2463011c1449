/* Runs: the sortable leaderboard and the comparison of 2+ runs with their curves overlaid. */
"use strict";
(() => {
  const { h, api, pct, status } = Studio;
  const $ = (x) => document.getElementById(x);
  const COLUMNS = [["run", "Run"], ["status", "Status"], ["dataset", "Dataset"], ["preset", "Preset"], ["epochs", "Epochs"],
    ["val_top1", "Val top-1"], ["top1", "Test top-1"], ["macro_f1", "Macro F1"], ["min_recall", "Worst class recall"],
    ["balance", "Balance"], ["started", "Started"]];
  let rows = [];
  let sort = { key: "started", dir: -1 };
  const selected = new Set();

  function cell(r, key) {
    const v = r[key];
    if (key === "run") return h("a", { href: `/runs/${encodeURIComponent(v)}` }, v);
    if (key === "status") return status(v);
    if (["val_top1", "top1", "macro_f1", "min_recall"].includes(key)) return pct(v);
    if (key === "started") return v ? new Date(v).toLocaleString() : "–";
    if (key === "dataset") return v ? v.split("/").pop() : "–";
    return v === null || v === undefined ? "–" : v;
  }

  /** What a column sorts by: numbers as numbers ("6/6" epochs by the epochs done, then planned). */
  function sortValue(r, key) {
    const v = r[key];
    if (key === "epochs" && typeof v === "string" && v.includes("/")) {
      const [done, planned] = v.split("/").map(Number);
      return done * 1e6 + planned;
    }
    return v;
  }

  function render() {
    const sorted = rows.slice().sort((a, b) => {
      const x = sortValue(a, sort.key), y = sortValue(b, sort.key);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sort.dir;
    });
    const head = document.querySelector("#runs thead");
    head.textContent = "";
    head.append(h("tr", {}, h("th", {}, h("span", { class: "visually-hidden" }, "Compare")), COLUMNS.map(([k, label]) =>
      h("th", { "aria-sort": sort.key === k ? (sort.dir > 0 ? "ascending" : "descending") : "none", class: ["val_top1", "top1", "macro_f1", "min_recall"].includes(k) ? "num" : "" },
        h("button", { type: "button", class: "sort", onclick: () => { sort = { key: k, dir: sort.key === k ? -sort.dir : (k === "run" ? 1 : -1) }; render(); } },
          label, sort.key === k ? (sort.dir > 0 ? " ▲" : " ▼") : "")))));
    const body = document.querySelector("#runs tbody");
    body.textContent = "";
    if (!sorted.length) body.append(h("tr", {}, h("td", { colspan: COLUMNS.length + 1, class: "muted" }, "No runs yet.")));
    for (const r of sorted) {
      body.append(h("tr", {}, h("td", {}, h("input", { type: "checkbox", "aria-label": `compare ${r.run}`, checked: selected.has(r.run),
        onchange: (e) => { if (e.target.checked) selected.add(r.run); else selected.delete(r.run); $("compare").disabled = selected.size < 2; } })),
        COLUMNS.map(([k]) => h("td", { class: ["val_top1", "top1", "macro_f1", "min_recall"].includes(k) ? "num" : "" }, cell(r, k)))));
    }
  }

  async function compare() {
    const names = [...selected];
    const details = await Promise.all(names.map((n) => api(`/runs/${encodeURIComponent(n)}`)));
    $("comparison").hidden = false;
    const longest = Math.max(...details.map((d) => d.epochs.length ? d.epochs[d.epochs.length - 1].epoch : 0));
    const x = Array.from({ length: longest }, (_, i) => i + 1);
    const series = (key) => details.map((d, i) => {
      const by = Object.fromEntries(d.epochs.map((e) => [e.epoch, e[key]]));
      return { label: names[i], values: x.map((e) => (by[e] === undefined ? null : by[e])) };
    });
    Studio.lineChart($("cmp-top1"), "Val top-1", "accuracy", { range: [0, 1] }).update(x, series("top1"));
    Studio.lineChart($("cmp-loss"), "Val loss", "loss").update(x, series("val_loss"));
    Studio.lineChart($("cmp-f1"), "Val macro F1", "F1", { range: [0, 1] }).update(x, series("f1"));
    Studio.lineChart($("cmp-train"), "Train loss", "loss").update(x, series("train_loss"));
    $("comparison").scrollIntoView();
    sameImages(names);
  }

  /** Test top-1 and per-class recall on the test images every selected run shares (stable splits across
      dataset versions), and the change from the first selected run to the last. */
  async function sameImages(names) {
    const t = $("cmp-classes");
    t.textContent = "";
    let c;
    try { c = await api(`/compare?${names.map((n) => `runs=${encodeURIComponent(n)}`).join("&")}`); }
    catch (e) { $("cmp-common").textContent = e.message; return; }
    $("cmp-common").textContent = `${c.images} test images shared by the ${c.runs.length} runs: ` +
      c.runs.map((r) => `${r.run} (${r.dataset}) top-1 ${Studio.pct(r.top1)}`).join(" · ");
    const classes = Object.keys(c.recall_change);
    t.append(h("thead", {}, h("tr", {}, h("th", {}, "class"), c.runs.map((r) => h("th", { class: "num" }, `recall ${r.dataset}`)),
      h("th", { class: "num" }, "change"))),
      h("tbody", {}, classes.map((cls) => h("tr", {}, h("th", {}, cls), c.runs.map((r) => h("td", { class: "num" }, Studio.pct(r.recall[cls]))),
        h("td", { class: `num ${c.recall_change[cls] > 0 ? "ok" : c.recall_change[cls] < 0 ? "error" : ""}` },
          `${c.recall_change[cls] > 0 ? "+" : ""}${(100 * c.recall_change[cls]).toFixed(1)} points`)))));
  }

  $("compare").addEventListener("click", compare);
  api("/runs").then((r) => { rows = r; render(); });
})();
