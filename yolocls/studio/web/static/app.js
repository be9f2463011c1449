/* yolocls studio: the helpers every page uses. Everything goes through /api/v1 with the session's API key. */
"use strict";

const Studio = (() => {
  const KEY = "yolocls-api-key";
  const API = "/api/v1";

  const key = () => sessionStorage.getItem(KEY) || "";
  const headers = (extra) => Object.assign(key() ? { "X-API-Key": key() } : {}, extra || {});

  /** Element builder: h("a", {href: "/x"}, "text", child). Text is always set as text, never as HTML. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
    return el;
  }

  function flash(message, info) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = info ? "info" : "";
    box.hidden = !message;
  }

  let asking = null;
  /** Ask for the API key once (a dialog), resolve when the user has given one. */
  function askKey(refused) {
    if (asking) return asking;
    const dialog = document.getElementById("key-dialog");
    document.getElementById("key-error").hidden = !refused;
    asking = new Promise((resolve) => {
      const form = document.getElementById("key-form");
      form.onsubmit = (ev) => {
        ev.preventDefault();
        sessionStorage.setItem(KEY, document.getElementById("key-input").value.trim());
        dialog.close();
        asking = null;
        resolve();
      };
      dialog.showModal();
      document.getElementById("key-input").focus();
    });
    return asking;
  }

  async function detail(res) {
    try { const body = await res.json(); return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); }
    catch (e) { return `${res.status} ${res.statusText}`; }
  }

  /** fetch under /api/v1 with the key; asks for the key on 401; throws Error(detail) on other errors. */
  async function raw(path, opts) {
    opts = opts || {};
    if (!key() && document.body.dataset.keyRequired === "true") await askKey(false);  // no 401 round trip
    for (let attempt = 0; attempt < 4; attempt++) {
      const res = await fetch(API + path, Object.assign({}, opts, { headers: headers(opts.headers) }));
      if (res.status === 401) { await askKey(attempt > 0 || !!key()); continue; }
      if (!res.ok) { const err = new Error(await detail(res)); err.status = res.status; throw err; }
      return res;
    }
    throw new Error("the API key was refused");
  }

  async function api(path, opts) {
    const res = await raw(path, opts);
    return res.status === 204 ? null : res.json();
  }

  const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body || {}),
                                           headers: { "Content-Type": "application/json" } });

  /** Fetches keyed images only when they come near the viewport (loading="lazy" cannot: the bytes come from a
      script), so a page with hundreds of thumbnails transfers only what is seen. */
  const nearView = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      nearView.unobserve(e.target);
      e.target.__fetch();
    }
  }, { rootMargin: "300px" }) : null;

  /** An <img> whose bytes are fetched with the API key (plain src when no key is needed), as it scrolls into view. */
  function img(path, alt) {
    const el = h("img", { alt: alt || "", loading: "lazy", width: 96, height: 96 });
    if (!key()) { el.src = API + path; return el; }
    el.addEventListener("load", () => URL.revokeObjectURL(el.src));  // the bytes are decoded: free the blob
    el.__fetch = () => raw(path).then((r) => r.blob()).then((b) => { el.src = URL.createObjectURL(b); })
      .catch(() => { el.alt = `${alt} (unavailable)`; });
    if (nearView) nearView.observe(el); else el.__fetch();
    return el;
  }

  /** Render `items` into `box` a page at a time: `render(item)` -> node; a "Show N more" button for the rest. */
  function paged(box, items, render, size) {
    size = size || 50;
    let shown = 0;
    const more = h("button", { type: "button", class: "secondary" });
    function next() {
      const slice = items.slice(shown, shown + size);
      shown += slice.length;
      more.before(...slice.map(render));
      const left = items.length - shown;
      more.textContent = `Show ${Math.min(size, left)} more (${left} left)`;
      more.hidden = left <= 0;
    }
    more.addEventListener("click", next);
    box.append(more);
    next();
  }

  /** Server-Sent Events over fetch (so the key header goes along); reconnects with Last-Event-ID. */
  function events(path, onEvent, onEnd) {
    let last = "";
    let stopped = false;
    const ctrl = new AbortController();
    async function run() {
      while (!stopped) {
        let ended = false;
        try {
          const res = await raw(path, { signal: ctrl.signal, headers: last ? { "Last-Event-ID": last } : {} });
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, cut);
              buf = buf.slice(cut + 2);
              const ev = { event: "message", data: "", id: "" };
              for (const line of block.split("\n")) {
                const at = line.indexOf(":");
                if (at <= 0) continue;
                const field = line.slice(0, at), val = line.slice(at + 1).replace(/^ /, "");
                if (field === "data") ev.data += (ev.data ? "\n" : "") + val; else ev[field] = val;
              }
              if (ev.id) last = ev.id;
              if (ev.data) onEvent(ev.event, JSON.parse(ev.data));
            }
          }
          ended = true;  // the server closes the stream when the job has ended
        } catch (e) {
          if (stopped) return;
          if (e.status && e.status !== 503) { flash(e.message); return; }
        }
        if (ended) { if (onEnd) onEnd(); return; }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    run();
    return () => { stopped = true; ctrl.abort(); };
  }

  /** Queue a deploy job for a run and follow its stages (export, parity check, registration); resolves with the
   *  registered model version, rejects with the job's error. */
  const DEPLOY_STAGES = { queued: "Waiting for a free slot…", waiting: "Waiting for Ray to place it…", export: "Exporting to ONNX…",
    "parity check": "Checking parity with the PyTorch model…", registration: "Registering the version…" };
  async function deployRun(run, model, onStage) {
    const job = await post(`/runs/${encodeURIComponent(run)}/deploy`, { model });
    onStage(DEPLOY_STAGES.queued);
    await new Promise((resolve) => {
      events(`/jobs/${encodeURIComponent(job.id)}/events`, (kind, data) => {
        if (kind === "progress" && data.stage) onStage(DEPLOY_STAGES[data.stage] || data.stage);
      }, resolve);
    });
    const done = await api(`/jobs/${encodeURIComponent(job.id)}`);
    if (done.status !== "completed" || !done.deployed) throw new Error(done.error || `deploy ${done.status}`);
    return done.deployed;
  }

  /** POST a FormData with upload progress (XHR: fetch has no upload progress). Resolves with the JSON body. */
  function upload(path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const send = () => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", API + path);
        for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
        xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
        xhr.onload = async () => {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
          if (xhr.status === 401) { await askKey(!!key()); send(); return; }
          if (xhr.status >= 200 && xhr.status < 300) resolve(body);
          else reject(new Error(body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : `upload failed (${xhr.status})`));
        };
        xhr.onerror = () => reject(new Error("upload failed: the connection was lost"));
        xhr.send(form);
      };
      send();
    });
  }

  /** Make `el` a drop target: highlighted while something is dragged over it; `onDrop(dataTransfer)` on drop
      (its errors are shown on the page). */
  function dropZone(el, onDrop) {
    el.addEventListener("dragover", (e) => { e.preventDefault(); el.classList.add("over"); });
    el.addEventListener("dragleave", () => el.classList.remove("over"));
    el.addEventListener("drop", (e) => {
      e.preventDefault();
      el.classList.remove("over");
      Promise.resolve(onDrop(e.dataTransfer)).catch((err) => flash(err.message));
    });
  }

  const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
  const num = (x, d) => (x === null || x === undefined ? "–" : Number(x).toFixed(d === undefined ? 3 : d));
  function duration(s) {
    if (s === null || s === undefined) return "–";
    s = Math.round(s);
    return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  }
  const status = (s) => h("span", { class: `status ${s}` }, s);
  const datasetImage = (id, path, size) => `/datasets/${encodeURIComponent(id)}/files/${path.split("/").map(encodeURIComponent).join("/")}${size ? `?size=${size}` : ""}`;
  const runImage = (run, path, size) => `/runs/${encodeURIComponent(run)}/images/${path.split("/").map(encodeURIComponent).join("/")}${size ? `?size=${size}` : ""}`;

  // Every colour reaches 4.5:1 against the white page (WCAG AA), so legends and labels drawn in it stay readable.
  const COLOURS = ["#0b5cad", "#b3263a", "#1d6f65", "#8a5a00", "#6a4c93", "#8c564b", "#0e6f7a", "#5f5f5f"];

  /** With no cursor over the chart, uPlot's legend shows "--": show the latest epoch's values instead. */
  function showLatest(u) {
    const n = u.data[0].length;
    if (n && (u.cursor.idx === null || u.cursor.idx === undefined)) u.setLegend({ idx: n - 1 });
  }

  /** A line chart (uPlot) in `el`, x = epochs; series = [{label, values}]; returns {update(x, series)}. */
  function lineChart(el, title, yLabel, opts) {
    opts = opts || {};
    let plot = null;
    const width = () => Math.max(280, el.clientWidth || 520);
    function update(x, series) {
      const data = [x, ...series.map((s) => s.values)];
      const spec = {
        title, width: width(), height: 240, scales: { x: { time: false }, y: opts.range ? { range: opts.range } : {} },
        axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, { label: yLabel }],
        series: [{ label: "epoch" }, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: x.length < 40 } }))],
        legend: { live: true },
        hooks: { ready: [(u) => showLatest(u)], setData: [(u) => showLatest(u)] },
      };
      if (!plot || plot.series.length !== spec.series.length) {
        if (plot) plot.destroy();
        el.textContent = "";
        plot = new uPlot(spec, data, el);
      } else plot.setData(data);
    }
    window.addEventListener("resize", () => { if (plot) plot.setSize({ width: width(), height: 240 }); });
    return { update };
  }

  return { h, api, raw, post, img, paged, events, deployRun, upload, flash, pct, num, duration, status, datasetImage, runImage,
           lineChart, askKey, dropZone, COLOURS };
})();

// The API schema needs the key too: fetched with it and shown from memory.
document.getElementById("schema-link").addEventListener("click", async (ev) => {
  if (document.body.dataset.keyRequired !== "true") return;
  ev.preventDefault();
  const res = await fetch("/openapi.json", { headers: { "X-API-Key": sessionStorage.getItem("yolocls-api-key") || "" } });
  if (!res.ok) { Studio.flash(`API schema: ${res.status} ${res.statusText}`); return; }
  window.open(URL.createObjectURL(new Blob([await res.text()], { type: "application/json" })), "_blank");
});

// The job engine (Ray): a banner while it is unavailable (its cluster's head lost); the studio reconnects by itself.
(() => {
  const banner = document.getElementById("engine-banner");
  async function check() {
    let state = null;
    try { state = await Studio.api("/status"); } catch (e) { /* the key dialog or the flash says why */ }
    if (state) {
      banner.hidden = state.available;
      banner.textContent = state.available ? "" : `The job engine (${state.where}) is unavailable: ${state.reason}. ` +
        "No job can start until it is back; deployed models keep answering. The studio reconnects by itself.";
    }
    setTimeout(check, state && state.available ? 15000 : 5000);
  }
  check();
})();

// Errors of API calls are shown on the page (they are handled, so not logged again as uncaught).
window.addEventListener("unhandledrejection", (ev) => {
  ev.preventDefault();
  Studio.flash(ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason));
});
