/* The annotator: one image at a time, a class by its key, the next image already loaded (no page reload). */
"use strict";
(() => {
  const { h, api, raw, post, flash } = Studio;
  const id = document.getElementById("annotator").dataset.id;
  const $ = (x) => document.getElementById(x);
  const base = `/datasets/${encodeURIComponent(id)}`;
  const SIZE = 640, AHEAD = 4;
  const images = new Map();  // image id -> {url: Promise<objectURL>, info: Promise<ImageOut>}
  let classes = [], queue = [], pos = 0, undo = [];
  const timings = (window.__annotatorTimings = []);  // key press -> next image shown, ms (read by the browser test)

  function entry(iid) {
    if (!images.has(iid)) {
      images.set(iid, {
        url: raw(`${base}/images/${iid}/file?size=${SIZE}`).then((r) => r.blob()).then((b) => URL.createObjectURL(b)),
        info: api(`${base}/images/${iid}`),
      });
    }
    return images.get(iid);
  }

  function forget() {  // keep what is near the current image; free the rest
    for (const [iid, e] of images) {
      const at = queue.indexOf(iid);
      if (at >= 0 && at >= pos - 3 && at <= pos + AHEAD) continue;
      e.url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
      images.delete(iid);
    }
  }

  const said = (info) => (info.state === "labelled" ? info.label : info.state === "none" ? "none of these" : "not labelled");

  async function show(t0) {
    $("empty").hidden = queue.length > 0;
    $("shown").hidden = !queue.length;
    if (!queue.length) { $("caption").textContent = ""; return; }
    pos = Math.max(0, Math.min(pos, queue.length - 1));
    const iid = queue[pos], e = entry(iid);
    for (let k = 1; k <= AHEAD && pos + k < queue.length; k++) entry(queue[pos + k]);
    const url = await e.url;
    if (queue[pos] !== iid) return;  // moved on meanwhile
    const el = $("shown");
    el.src = url;
    await el.decode().catch(() => {});
    if (t0 !== undefined) timings.push(performance.now() - t0);
    const info = await e.info;
    if (queue[pos] !== iid) return;
    el.alt = info.name;
    $("caption").textContent = `Image ${pos + 1} of ${queue.length}: ${info.name} · ${said(info)}`;
    const s = info.suspect && !info.suspect.decision && info.suspect.label !== info.label ? info.suspect : null;
    $("hint").textContent = s ? `A label check suggests ${s.label} (label quality ${s.score.toFixed(2)}): Enter accepts, . keeps ${info.label}.`
      : info.suggestion && info.state === "unlabelled" ? `Suggested: ${info.suggestion.label} (${Math.round(100 * info.suggestion.confidence)} %, ${info.suggestion.source}): Enter accepts.` : "";
    if (images.size > 40) forget();
  }

  let refreshing = null;
  function progress() {  // at most one request at a time
    if (refreshing) return;
    refreshing = api(`${base}/labelling`).then((p) => {
      $("progress").textContent = `${p.labelled} of ${p.total} labelled · ${p.none} none of these · ${p.unlabelled} to go` +
        (p.last_version ? ` · ${p.changed} change(s) since version ${p.last_version}` : "");
      classes = p.classes;
      chips();
    }).finally(() => { refreshing = null; });
  }

  function chips() {
    const box = $("chips");
    box.textContent = "";
    for (const c of classes) {
      box.append(h("button", { type: "button", class: "chip", "aria-keyshortcuts": c.key || null,
        onclick: () => assign(c.name, false) }, c.key ? h("kbd", {}, c.key) : null, ` ${c.name} `, h("span", { class: "muted" }, `(${c.images})`)));
    }
    box.append(h("button", { type: "button", class: "chip", "aria-keyshortcuts": "0", onclick: () => assign(null, true) },
      h("kbd", {}, "0"), " none of these"));
  }

  function step(delta, t0) {
    if (!queue.length) return;
    pos = Math.max(0, Math.min(queue.length - 1, pos + delta));
    show(t0);
  }

  async function change(iid, label, none, revision) {
    const res = await raw(`${base}/images/${iid}/label`, { method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ label, none, revision }) }).catch(async (err) => {
      if (err.status === 409) images.delete(iid);  // someone else changed it: show theirs
      throw err;
    });
    const info = await res.json();
    const e = images.get(iid);
    if (e) e.info = Promise.resolve(info);
    return info;
  }

  async function assign(label, none) {
    if (!queue.length) return;
    const t0 = performance.now();
    const iid = queue[pos];
    const info = await entry(iid).info;
    const before = { label: info.label, none: info.state === "none" };
    const saved = change(iid, none ? null : label, none, info.revision);
    undo.push({ iid, before, saved });
    if ($("auto-advance").checked && pos < queue.length - 1) step(1, t0); else show(t0);
    saved.then(progress).catch((err) => flash(err.message));
  }

  /** Enter: the suggestion (a suspected error's first, else the model's) becomes the label; "." keeps the
      label a label check doubts (not suggested again for that version). */
  async function decide(accept) {
    if (!queue.length) return;
    const t0 = performance.now();
    const iid = queue[pos];
    const info = await entry(iid).info;
    const kind = info.suspect && !info.suspect.decision ? "error" : info.suggestion ? "model" : null;
    if (!kind || (!accept && kind !== "error")) { flash(accept ? "No suggestion for this image." : "No doubted label to keep.", true); return; }
    const done = accept
      ? post(`${base}/suggestions/accept`, { images: [{ id: iid, revision: info.revision }], kind }).then((r) => {
        if (r.conflicts.length) throw new Error("changed by someone else meanwhile; look again");
        const e = images.get(iid); if (e) e.info = Promise.resolve(r.changed[0]);
        return r.changed[0];
      })
      : api(`${base}/suggestions/keep`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ images: [iid] }) })
        .then(() => { images.delete(iid); return info; });
    if (accept) undo.push({ iid, before: { label: info.label, none: info.state === "none" }, saved: done });
    if (pos < queue.length - 1) step(1, t0); else show(t0);
    done.then(progress).catch((err) => flash(err.message));
  }

  async function back() {
    const last = undo.pop();
    if (!last) { flash("Nothing to undo.", true); return; }
    const after = await last.saved.catch(() => null);
    if (!after) return;
    await change(last.iid, last.before.label, last.before.none, after.revision).catch((err) => flash(err.message));
    pos = Math.max(0, queue.indexOf(last.iid));
    show();
    progress();
  }

  async function load() {
    flash("");
    const filter = $("queue-filter").value;
    queue = (await api(`${base}/images/ids${filter ? `?${filter}` : ""}`)).ids;
    pos = 0;
    show();
  }

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA") || document.querySelector("dialog[open]")) return;
    if (ev.altKey) return;
    if (t && (t.tagName === "BUTTON" || t.tagName === "A" || t.tagName === "SUMMARY") && (ev.key === "Enter" || ev.key === " ")) return;
    const t0 = performance.now();
    const k = ev.key.toLowerCase();
    let handled = true;
    if ((ev.ctrlKey || ev.metaKey) && k === "z") back();
    else if (ev.ctrlKey || ev.metaKey) handled = false;
    else if (k === "backspace") back();
    else if (k === "arrowright") step(1, t0);
    else if (k === "arrowleft") step(-1, t0);
    else if (k === " ") step(1, t0);
    else if (k === "0") assign(null, true);
    else if (k === "enter") decide(true);
    else if (k === ".") decide(false);
    else {
      const c = classes.find((x) => x.key && x.key === k);
      if (c) assign(c.name, false); else handled = false;
    }
    if (handled) ev.preventDefault();
  });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("skip").addEventListener("click", () => step(1));
  $("undo").addEventListener("click", () => back());
  $("queue-filter").addEventListener("change", () => load());
  $("add-class").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    flash("");
    try {
      const c = await Studio.post(`${base}/classes`, { name: $("new-class").value.trim() });
      $("new-class").value = "";
      flash(`Class ${c.name} added: its key is ${c.key || "none (use its chip)"}.`, true);
      progress();
    } catch (e) { flash(e.message); }
  });

  api(`${base}`).then((ds) => {
    document.getElementById("page-title").textContent = `Label ${ds.name}`;
    document.title = `Label ${ds.name} · yolocls studio`;
  });
  api(`${base}/labelling`).then((p) => {
    for (const c of p.classes) $("queue-filter").append(h("option", { value: `label=${encodeURIComponent(c.name)}` }, `Class: ${c.name}`));
    const wanted = { suspected: "suspected=true&order=suspicion", uncertain: "state=unlabelled&order=uncertainty" }[new URLSearchParams(location.search).get("queue")];
    if (wanted) $("queue-filter").value = wanted;
    progress();
    return load();
  });
})();
