// Line charts as plain SVG drawn by the page itself (no library): a time
// axis over a window (the last hour), a value axis with labels, and a readout
// of the point under the pointer, or chosen with the arrow keys once the
// chart has the focus (Home and End jump to the first and the latest).

import { h } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 66, right: 14, top: 10, bottom: 26 };

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "10:42" or, with seconds, "10:42:07", in the browser's time zone. */
export function clock(ms, seconds = false) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${hm}:${pad(d.getSeconds())}` : hm;
}

/** The axis for values up to `v`: a top of 1, 2 or 5 × 10^k and round ticks. */
function axis(v) {
  const power = 10 ** Math.floor(Math.log10(v > 0 ? v : 1));
  const [m, parts] = [
    [1, 5],
    [2, 4],
    [5, 5],
    [10, 5],
  ].find(([mantissa]) => mantissa * power >= v) || [10, 5];
  return { top: m * power, ticks: Array.from({ length: parts + 1 }, (_, i) => (m * power * i) / parts) };
}

/**
 * A chart of `points` ([{t: unix ms, v: number}]) over the `windowMs` before
 * now. `format(v)` writes a value for the axis and the readout.
 * Returns {el, update(points), destroy()}.
 */
export function lineChart({ id, label, format, unit = "", windowMs = 3_600_000, height = 170, empty }) {
  const spoken = (v) => (unit ? `${format(v)} ${unit}` : format(v));
  const readout = h("p", { class: "chart-readout", id: `${id}-readout`, "aria-live": "polite" });
  const svg = s("svg", {
    class: "chart-svg",
    role: "img",
    tabindex: "0",
    height,
    "aria-describedby": readout.id,
  });
  const el = h(
    "figure",
    { class: "chart", id },
    h("figcaption", { class: "chart-title" }, label),
    svg,
    readout,
  );
  let points = [];
  let now = Date.now();
  // The point the operator looks at (index into points), or null: the latest.
  let chosen = null;
  let width = 0;

  const inWindow = () => points.filter((p) => p.t >= now - windowMs && p.t <= now + 60_000);

  const draw = () => {
    width = Math.max(svg.clientWidth || el.clientWidth || 600, 200);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.replaceChildren();
    const shown = inWindow();
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const start = now - windowMs;
    const x = (t) => MARGIN.left + ((t - start) / windowMs) * plotW;
    const { top, ticks } = axis(Math.max(0, ...shown.map((p) => p.v)));
    const y = (v) => MARGIN.top + (1 - v / top) * plotH;

    const grid = s("g", { class: "chart-grid", "aria-hidden": "true" });
    for (const v of shown.length ? ticks : [0]) {
      grid.append(
        s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }),
        s("text", { x: MARGIN.left - 6, y: y(v) + 4, "text-anchor": "end", class: "chart-label" }, format(v)),
      );
    }
    const tenMinutes = 600_000;
    const stepT = plotW < 360 ? 2 * tenMinutes : tenMinutes;
    for (let t = Math.ceil(start / stepT) * stepT; t <= now; t += stepT) {
      grid.append(
        s("line", { x1: x(t), x2: x(t), y1: MARGIN.top, y2: MARGIN.top + plotH, class: "chart-tick" }),
        s("text", { x: x(t), y: height - 8, "text-anchor": "middle", class: "chart-label" }, clock(t)),
      );
    }
    svg.append(grid);

    if (!shown.length) {
      svg.setAttribute("aria-label", `${label}: ${empty || "no data yet"}`);
      readout.textContent = empty || "No data yet.";
      delete el.dataset.latestT;
      delete el.dataset.latestV;
      el.dataset.count = "0";
      return;
    }
    const line = shown.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
    const base = y(0).toFixed(1);
    svg.append(
      s("path", {
        class: "chart-area",
        d: `${line}L${x(shown[shown.length - 1].t).toFixed(1)},${base}L${x(shown[0].t).toFixed(1)},${base}Z`,
        "aria-hidden": "true",
      }),
      s("path", { class: "chart-line", d: line, "aria-hidden": "true" }),
    );
    const latest = shown[shown.length - 1];
    const index = chosen === null ? shown.length - 1 : Math.min(chosen, shown.length - 1);
    const p = shown[index];
    svg.append(
      s("line", { class: "chart-cursor", x1: x(p.t), x2: x(p.t), y1: MARGIN.top, y2: MARGIN.top + plotH, "aria-hidden": "true" }),
      s("circle", { class: "chart-point", cx: x(p.t), cy: y(p.v), r: 4, "aria-hidden": "true" }),
    );
    const text = `${clock(p.t, true)} · ${spoken(p.v)}`;
    readout.textContent = index === shown.length - 1 ? `Latest: ${text}` : text;
    svg.setAttribute(
      "aria-label",
      `${label} over the last ${Math.round(windowMs / 60_000)} minutes; latest ${spoken(latest.v)} at ${clock(latest.t, true)}. ` +
        "Arrow keys read earlier values.",
    );
    el.dataset.latestT = String(latest.t);
    el.dataset.latestV = String(latest.v);
    el.dataset.count = String(shown.length);
  };

  const nearest = (clientX) => {
    const shown = inWindow();
    if (!shown.length) return null;
    const rect = svg.getBoundingClientRect();
    const plotW = width - MARGIN.left - MARGIN.right;
    const t = now - windowMs + ((clientX - rect.left - MARGIN.left) / plotW) * windowMs;
    let best = 0;
    shown.forEach((q, i) => {
      if (Math.abs(q.t - t) < Math.abs(shown[best].t - t)) best = i;
    });
    return best;
  };

  svg.addEventListener("pointermove", (e) => {
    chosen = nearest(e.clientX);
    draw();
  });
  svg.addEventListener("pointerleave", () => {
    chosen = null;
    draw();
  });
  svg.addEventListener("blur", () => {
    chosen = null;
    draw();
  });
  svg.addEventListener("keydown", (e) => {
    const count = inWindow().length;
    if (!count) return;
    const at = chosen === null ? count - 1 : chosen;
    const moves = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: count - 1, PageUp: at - 10, PageDown: at + 10 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    chosen = Math.max(0, Math.min(count - 1, moves[e.key]));
    draw();
  });
  // Redrawn in the next frame, not inside the observer's callback, so that
  // the drawing's own layout changes do not notify it again.
  let frame = 0;
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      if (Math.abs((svg.clientWidth || 0) - width) > 1) draw();
    });
  });
  observer.observe(el);

  return {
    el,
    /** New points, oldest first (null values are gaps the line skips). */
    update(next) {
      const looking = chosen === null ? null : (inWindow()[chosen] || {}).t;
      points = next.filter((p) => p.v !== null && p.v !== undefined && Number.isFinite(p.v));
      now = Date.now();
      // Keep showing the point the operator chose while new ones arrive.
      const at = looking === undefined || looking === null ? -1 : inWindow().findIndex((p) => p.t === looking);
      chosen = at < 0 ? null : at;
      draw();
    },
    destroy() {
      cancelAnimationFrame(frame);
      observer.disconnect();
    },
  };
}

/** `field` of the points of /api/metrics/history, as chart points. */
export function seriesOf(points, field) {
  return (points || []).map((p) => ({ t: p.at_ms, v: p[field] }));
}
