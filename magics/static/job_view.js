// hanzo-ml job and sweep views (anywidget ES module; no dependencies, no network).
//
// render({ model, el }) draws the synced traits and returns its cleanup. The kernel sends
// batched trait updates; the elapsed time ticks here, from start_time, once a second.

const PHASE_COLORS = {
  Pending: "#8d8d8d",
  Creating: "#1e88e5",
  Running: "#2e7d32",
  Degraded: "#ef6c00",
  Deleting: "#6d6d6d",
  Succeeded: "#1b5e20",
  Failed: "#c62828",
};
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_W = 300;
const CHART_H = 110;

function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function fmt(v) {
  if (typeof v !== "number" || !isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (v === 0 || (a >= 1e-3 && a < 1e5)) return String(Number(v.toPrecision(4)));
  return v.toExponential(3);
}

function duration(seconds) {
  if (!(seconds >= 0)) return "";
  const s = Math.floor(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (hh) return `${hh}h${pad(mm)}m${pad(ss)}s`;
  if (mm) return `${mm}m${pad(ss)}s`;
  return `${ss}s`;
}

function chart(key, series) {
  const box = h("div", "hml-chart");
  box.dataset.metric = key;
  const title = h("div", "hml-chart-title");
  const steps = series.steps || [];
  const values = series.values || [];
  const last = values.length ? fmt(values[values.length - 1]) : "";
  title.append(h("span", "hml-chart-key", key), h("span", "hml-chart-last", last));
  box.append(title);
  const root = svg("svg", {
    width: CHART_W, height: CHART_H, viewBox: `0 0 ${CHART_W} ${CHART_H}`, role: "img",
    "aria-label": `${key} by step`,
  });
  const pts = [];
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] === "number" && isFinite(values[i])) pts.push([steps[i], values[i]]);
  }
  box.dataset.points = String(pts.length);
  const left = 44, right = 6, top = 6, bottom = 18;
  root.append(svg("rect", {
    x: left, y: top, width: CHART_W - left - right, height: CHART_H - top - bottom,
    class: "hml-plot",
  }));
  if (pts.length) {
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const sx = (x) => left + ((x - x0) / (x1 - x0)) * (CHART_W - left - right);
    const sy = (y) => top + (1 - (y - y0) / (y1 - y0)) * (CHART_H - top - bottom);
    const line = pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points: line, class: "hml-line" }));
    if (pts.length === 1) {
      root.append(svg("circle", { cx: sx(pts[0][0]), cy: sy(pts[0][1]), r: 2.5, class: "hml-dot" }));
    }
    const label = (x, y, text, anchor) => {
      const node = svg("text", { x, y, "text-anchor": anchor, class: "hml-axis" });
      node.textContent = text;
      root.append(node);
    };
    label(left - 4, top + 8, fmt(y1), "end");
    label(left - 4, CHART_H - bottom, fmt(y0), "end");
    label(left, CHART_H - 4, fmt(x0), "start");
    label(CHART_W - right, CHART_H - 4, `step ${fmt(x1)}`, "end");
  }
  box.append(root);
  return box;
}

function renderJob(model, root, cleanups) {
  const header = h("div", "hml-header");
  const title = h("span", "hml-name");
  const badge = h("span", "hml-badge");
  const replicas = h("span", "hml-meta hml-replicas");
  const elapsed = h("span", "hml-meta hml-elapsed");
  const cancel = h("button", "hml-cancel", "Cancel");
  header.append(title, badge, replicas, elapsed, cancel);

  const progress = h("div", "hml-progress");
  const bar = h("div", "hml-progress-bar");
  const progressText = h("span", "hml-progress-text");
  progress.append(bar, progressText);

  const message = h("div", "hml-message");
  const error = h("div", "hml-error");
  const charts = h("div", "hml-charts");

  const logsBox = h("div", "hml-logs");
  const logsHead = h("div", "hml-logs-head");
  const select = h("select", "hml-replica");
  logsHead.append(h("span", null, "logs "), select);
  const pre = h("pre", "hml-log-tail");
  logsBox.append(logsHead, pre);

  root.append(header, progress, message, error, charts, logsBox);

  const terminal = () => ["Succeeded", "Failed"].includes(model.get("phase"));

  const tick = () => {
    const start = Date.parse(model.get("start_time") || "");
    if (isNaN(start)) { elapsed.textContent = ""; return; }
    const endRaw = model.get("completion_time");
    const end = endRaw ? Date.parse(endRaw) : Date.now();
    elapsed.textContent = `${endRaw ? "took" : "elapsed"} ${duration((end - start) / 1000)}`;
  };

  const drawHeader = () => {
    const phase = model.get("phase") || "Pending";
    title.textContent = `TrainingJob ${model.get("name")}`;
    badge.textContent = phase;
    badge.dataset.phase = phase;
    badge.style.background = PHASE_COLORS[phase] || "#8d8d8d";
    replicas.textContent = `replicas ${model.get("workers_ready")}/${model.get("workers_total")}`;
    const state = model.get("cancel_state") || "";
    const cancelling = state === "requested" || state === "sent";
    // A finished job has nothing to cancel: no button (it used to stay as "Cancelling…").
    cancel.style.display = terminal() ? "none" : "";
    cancel.disabled = terminal() || cancelling;
    cancel.textContent = cancelling ? "Cancelling…" : "Cancel";
    message.textContent = model.get("message") || "";
    const err = model.get("error") || (state.startsWith("failed") ? `cancel ${state}` : "");
    error.textContent = err;
    tick();
  };

  const drawProgress = () => {
    const total = model.get("progress_total");
    const step = model.get("progress_step");
    const phase = model.get("phase");
    const done = phase === "Succeeded";
    if (total > 0) {
      const frac = done ? 1 : Math.min(1, step / total);
      bar.style.width = `${(frac * 100).toFixed(1)}%`;
      progressText.textContent = `${Math.min(step, total)}/${total}`;
      progress.classList.remove("hml-indeterminate");
    } else {
      // No total known: a sliding bar while the job runs (it was an empty bar), a full one
      // once it succeeded, none after a failure; the text counts the steps seen.
      const moving = !terminal();
      bar.style.width = moving ? "" : done ? "100%" : "0%";
      progressText.textContent = step ? `${step} steps` : "";
      progress.classList.toggle("hml-indeterminate", moving);
    }
    progress.style.display = total > 0 || step > 0 ? "" : "none";
  };

  const drawCharts = () => {
    const metrics = model.get("metrics") || {};
    const keys = Object.keys(metrics).sort();
    charts.replaceChildren(...keys.map((k) => chart(k, metrics[k])));
  };

  const drawLogs = () => {
    const names = ["all", ...(model.get("replicas") || [])];
    const chosen = select.value || "all";
    if (select.options.length !== names.length ||
        names.some((n, i) => select.options[i].value !== n)) {
      select.replaceChildren(...names.map((n) => {
        const opt = h("option", null, n);
        opt.value = n;
        return opt;
      }));
      select.value = names.includes(chosen) ? chosen : "all";
    }
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const multi = names.length > 2;
    const lines = (model.get("logs") || [])
      .filter(([replica]) => select.value === "all" || replica === select.value)
      .map(([replica, text]) => (multi && select.value === "all" ? `[${replica}] ${text}` : text));
    pre.textContent = lines.join("\n");
    logsBox.style.display = lines.length || names.length > 1 ? "" : "none";
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };

  const onCancel = () => {
    cancel.disabled = true;
    cancel.textContent = "Cancelling…";
    model.send({ type: "cancel" });
  };
  cancel.addEventListener("click", onCancel);
  select.addEventListener("change", drawLogs);
  cleanups.push(() => cancel.removeEventListener("click", onCancel));
  cleanups.push(() => select.removeEventListener("change", drawLogs));

  const on = (names, fn) => {
    for (const n of names) {
      model.on(`change:${n}`, fn);
      cleanups.push(() => model.off(`change:${n}`, fn));
    }
  };
  on(["phase", "name", "workers_ready", "workers_total", "start_time", "completion_time",
    "message", "error", "cancel_state"], drawHeader);
  on(["progress_total", "progress_step", "phase"], drawProgress);
  on(["metrics"], drawCharts);
  on(["logs", "replicas"], drawLogs);

  drawHeader();
  drawProgress();
  drawCharts();
  drawLogs();
  const timer = setInterval(() => { if (!terminal()) tick(); }, 1000);
  cleanups.push(() => clearInterval(timer));
}

function renderSweep(model, root, cleanups) {
  const header = h("div", "hml-header");
  const title = h("span", "hml-name");
  const badge = h("span", "hml-badge");
  const meta = h("span", "hml-meta");
  header.append(title, badge, meta);
  const counts = h("div", "hml-meta");
  const best = h("div", "hml-meta");
  const note = h("div", "hml-message");
  const error = h("div", "hml-error");
  root.append(header, counts, best, note, error);

  const draw = () => {
    const s = model.get("sweep") || {};
    const phase = model.get("phase");
    const objective = s.objective || {};
    title.textContent = `Sweep ${model.get("name")}`;
    badge.textContent = phase || "Pending";
    badge.dataset.phase = phase || "Pending";
    badge.style.background = PHASE_COLORS[phase || "Pending"] || "#8d8d8d";
    meta.textContent = `${s.algorithm || ""} · ${objective.goal || ""} ${objective.metric || ""}`;
    counts.textContent = `trials: ${s.trialsCompleted || 0} completed, ${s.trialsRunning || 0} ` +
      `running, ${s.trialsFailed || 0} failed of ${s.maxTrials || 0}`;
    best.textContent = s.bestTrial ? `best: ${s.bestTrial.name} = ${fmt(s.bestTrial.value)}` : "";
    note.textContent = phase ? (model.get("message") || "") : "waiting for the sweep controller";
    error.textContent = model.get("error") || "";
  };
  for (const n of ["sweep", "phase", "name", "message", "error"]) {
    model.on(`change:${n}`, draw);
    cleanups.push(() => model.off(`change:${n}`, draw));
  }
  draw();
}

function render({ model, el }) {
  const root = h("div", "hanzo-ml-view");
  root.dataset.kind = model.get("kind") || "TrainingJob";
  root.dataset.name = model.get("name") || "";
  el.append(root);
  const cleanups = [];
  if (model.get("kind") === "Sweep") renderSweep(model, root, cleanups);
  else renderJob(model, root, cleanups);
  return () => {
    for (const fn of cleanups) fn();
    root.remove();
  };
}

export default { render };
