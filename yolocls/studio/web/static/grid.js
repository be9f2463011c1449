/* The grid: a page of thumbnails (fetched as they scroll into view), selected with the mouse or the keyboard,
   labelled all at once by a class's key. Usable at 15,000 images: one page of the server's list at a time. */
"use strict";
(() => {
  const { h, api, post, img, flash } = Studio;
  const id = document.getElementById("grid-page").dataset.id;
  const $ = (x) => document.getElementById(x);
  const base = `/datasets/${encodeURIComponent(id)}`;
  const LIMIT = 200;
  let items = [], total = 0, offset = 0, classes = [];
  let selected = new Set(), anchor = 0, focus = 0, drag = null;
  const tiles = () => [...$("grid").children];

  const doubt = (im) => (im.suspect && !im.suspect.decision && im.suspect.label !== im.label ? im.suspect : null);
  const said = (im) => (im.state === "labelled" ? im.label : im.state === "none" ? "none of these" : "unlabelled") +
    (doubt(im) ? ` → ${doubt(im).label}?` : im.state === "unlabelled" && im.suggestion ? ` (suggested ${im.suggestion.label})` : "");

  function paint() {
    tiles().forEach((li, i) => {
      li.setAttribute("aria-selected", selected.has(items[i].id) ? "true" : "false");
      li.tabIndex = i === focus ? 0 : -1;
      li.querySelector("figcaption").textContent = `${items[i].name} · ${said(items[i])}`;
    });
    $("grid-status").textContent = `${selected.size} selected · images ${total ? offset + 1 : 0}–${offset + items.length} of ${total}`;
  }

  function range(a, b, keep) {
    const next = new Set(keep || []);
    for (let i = Math.min(a, b); i <= Math.max(a, b); i++) next.add(items[i].id);
    selected = next;
  }

  function pick(i, ev) {
    if (ev.shiftKey) range(anchor, i, ev.ctrlKey || ev.metaKey ? selected : null);
    else if (ev.ctrlKey || ev.metaKey) { if (selected.has(items[i].id)) selected.delete(items[i].id); else selected.add(items[i].id); anchor = i; }
    else { selected = new Set([items[i].id]); anchor = i; }
    focus = i;
    paint();
  }

  function render() {
    const ul = $("grid");
    ul.textContent = "";
    items.forEach((im, i) => {
      const li = h("li", { role: "option", "aria-selected": "false", class: "tile" },
        h("figure", { class: "thumb" }, img(`${base}/images/${im.id}/file?size=96`, im.name), h("figcaption", {})));
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); pick(i, ev); li.focus(); drag = { from: i, keep: new Set(selected) }; });
      li.addEventListener("mouseenter", () => { if (drag && drag.from !== i) { range(drag.from, i, drag.keep); focus = i; paint(); } });
      ul.append(li);
    });
    paint();
    $("page-of").textContent = `Page ${Math.floor(offset / LIMIT) + 1} of ${Math.max(1, Math.ceil(total / LIMIT))}`;
    $("page-prev").disabled = offset === 0;
    $("page-next").disabled = offset + LIMIT >= total;
  }
  document.addEventListener("mouseup", () => { drag = null; });

  function query() {
    const p = new URLSearchParams({ offset, limit: LIMIT });
    const state = $("grid-state").value;
    if (state === "changed") p.set("changed", "true");
    else if (state === "suspected") { p.set("suspected", "true"); p.set("order", "suspicion"); }
    else if (state === "uncertain") { p.set("state", "unlabelled"); p.set("order", "uncertainty"); }
    else if (state) p.set("state", state);
    if ($("grid-class").value) p.set("label", $("grid-class").value);
    if ($("grid-search").value.trim()) p.set("q", $("grid-search").value.trim());
    return p.toString();
  }

  async function load(keepSelection) {
    const page = await api(`${base}/images?${query()}`);
    items = page.images; total = page.total;
    if (!keepSelection) { selected = new Set(); anchor = 0; focus = 0; }
    render();
  }

  function chips() {
    const box = $("grid-chips");
    box.textContent = "";
    for (const c of classes) box.append(h("button", { type: "button", class: "chip", "aria-keyshortcuts": c.key || null,
      onclick: () => assign(c.name, false) }, c.key ? h("kbd", {}, c.key) : null, ` ${c.name} `, h("span", { class: "muted" }, `(${c.images})`)));
    box.append(h("button", { type: "button", class: "chip", "aria-keyshortcuts": "0", onclick: () => assign(null, true) }, h("kbd", {}, "0"), " none of these"));
  }

  async function refreshClasses() {
    const p = await api(`${base}/labelling`);
    classes = p.classes;
    chips();
    const sel = $("grid-class"), was = sel.value;
    sel.textContent = "";
    sel.append(h("option", { value: "" }, "Any"), ...classes.map((c) => h("option", { value: c.name }, c.name)));
    sel.value = was;
  }

  async function assign(label, none) {
    const chosen = items.filter((im) => selected.has(im.id));
    if (!chosen.length) { flash("Select images first (click, shift-click, drag, or arrows and space).", true); return; }
    flash("");
    const res = await post(`${base}/labels`, { images: chosen.map((im) => ({ id: im.id, revision: im.revision })), label, none });
    const fresh = new Map([...res.changed, ...res.conflicts].map((im) => [im.id, im]));
    items = items.map((im) => fresh.get(im.id) || im);
    if (res.conflicts.length) flash(`${res.conflicts.length} image(s) were changed by someone else meanwhile and kept their label (shown now); ${res.changed.length} labelled.`);
    $("grid-status").textContent = "";
    paint();
    $("grid-status").textContent = `${res.changed.length} image(s) labelled ${none ? "none of these" : label}. ` + $("grid-status").textContent;
    refreshClasses();
  }

  /** The selection's suggestions accepted (a label check's where it doubts the label, else the model's), or the
      doubted labels kept. */
  async function decide(accept) {
    const chosen = items.filter((im) => selected.has(im.id));
    const doubted = chosen.filter(doubt);
    const kind = doubted.length ? "error" : "model";
    const picked = doubted.length ? doubted : chosen.filter((im) => im.suggestion);
    if (!picked.length) { flash(accept ? "No suggestion in the selection." : "No doubted label in the selection.", true); return; }
    if (!accept && kind !== "error") { flash("No doubted label in the selection.", true); return; }
    flash("");
    if (accept) {
      const res = await post(`${base}/suggestions/accept`, { images: picked.map((im) => ({ id: im.id, revision: im.revision })), kind });
      if (res.conflicts.length) flash(`${res.conflicts.length} image(s) were changed by someone else meanwhile and kept their label.`);
      $("grid-status").textContent = `${res.changed.length} suggestion(s) accepted.`;
    } else {
      await api(`${base}/suggestions/keep`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ images: picked.map((im) => im.id) }) });
      $("grid-status").textContent = `${picked.length} label(s) kept.`;
    }
    const note = $("grid-status").textContent;
    await load(false);
    $("grid-status").textContent = `${note} ${$("grid-status").textContent}`;
    refreshClasses();
  }

  function columns() {
    const t = tiles();
    if (t.length < 2) return 1;
    const top = t[0].offsetTop;
    const n = t.findIndex((li) => li.offsetTop !== top);
    return n < 0 ? t.length : n;
  }

  $("grid").addEventListener("keydown", (ev) => {
    if (!items.length) return;
    const k = ev.key.toLowerCase();
    const moves = { arrowright: 1, arrowleft: -1, arrowdown: columns(), arrowup: -columns(), home: -focus, end: items.length - 1 - focus };
    if (k in moves) {
      focus = Math.max(0, Math.min(items.length - 1, focus + moves[k]));
      if (ev.shiftKey) range(anchor, focus, null); else if (!(ev.ctrlKey || ev.metaKey)) anchor = focus;
      paint();
      tiles()[focus].focus();
    } else if (k === " ") { pick(focus, { ctrlKey: true }); }
    else if (k === "a" && (ev.ctrlKey || ev.metaKey)) { range(0, items.length - 1, null); paint(); }
    else if (k === "escape") { selected = new Set(); paint(); }
    else if (k === "0" && !ev.ctrlKey) assign(null, true);
    else if (k === "enter") decide(true);
    else {
      const c = !ev.ctrlKey && !ev.metaKey && classes.find((x) => x.key && x.key === k);
      if (!c) return;
      assign(c.name, false);
    }
    ev.preventDefault();
  });
  $("grid").addEventListener("focus", (ev) => { if (ev.target === $("grid") && tiles()[focus]) tiles()[focus].focus(); });
  $("accept-selected").addEventListener("click", () => decide(true).catch((e) => flash(e.message)));
  $("keep-selected").addEventListener("click", () => decide(false).catch((e) => flash(e.message)));
  $("page-prev").addEventListener("click", () => { offset = Math.max(0, offset - LIMIT); load(); });
  $("page-next").addEventListener("click", () => { offset += LIMIT; load(); });
  let typing = null;
  const refilter = () => { clearTimeout(typing); typing = setTimeout(() => { offset = 0; load(); }, 250); };
  $("grid-filter").addEventListener("input", refilter);
  $("grid-filter").addEventListener("change", refilter);
  $("grid-filter").addEventListener("submit", (ev) => ev.preventDefault());

  api(base).then((ds) => {
    document.getElementById("page-title").textContent = `Images of ${ds.name}`;
    document.title = `Images of ${ds.name} · yolocls studio`;
  });
  refreshClasses().then(() => load());
})();
