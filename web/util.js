// Small DOM and formatting helpers shared by the views. No framework: views
// build elements with h() and replace what changed.

/** Creates an element: h("a", {href: "#/", class: "x"}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === "class") el.className = v;
    else if (key === "value") value = v;
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key.startsWith("on") && typeof v === "function") {
      el.addEventListener(key.slice(2), v);
    } else if (v === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(v));
  }
  append(el, children);
  // After the children, so a <select> has its options before its value is set.
  if (value !== undefined) el.value = value;
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const ICONS = { ok: "✓", warn: "!", bad: "✕", info: "•", muted: "○" };

/** A status badge: colour and an icon, always with its text. */
export function badge(kind, text, title) {
  return h(
    "span",
    { class: `badge ${kind}`, title },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, ICONS[kind] || "•"),
    text,
  );
}

/** Mesos task states as badges. */
export function taskBadge(state) {
  if (!state) return badge("muted", "No task");
  const kind =
    {
      Running: "ok",
      Staging: "warn",
      Starting: "warn",
      Killing: "warn",
      Unreachable: "warn",
      Finished: "muted",
      Killed: "muted",
    }[state] || "bad";
  return badge(kind, state);
}

/** Logstash health from an executor report. */
export function logstashBadge(health) {
  const kinds = {
    Running: ["ok", "Logstash running"],
    Starting: ["warn", "Logstash starting"],
    Restarting: ["warn", "Logstash restarting"],
    Failed: ["bad", "Logstash failed"],
    NotInstalled: ["muted", "No Logstash on agent"],
  };
  const [kind, text] = kinds[health] || ["muted", `Logstash ${health}`];
  return badge(kind, text);
}

/** The Mesos connection state of /api/framework. */
export function connectionBadge(state) {
  const kinds = {
    subscribed: ["ok", "Subscribed"],
    connecting: ["warn", "Connecting"],
    disconnected: ["bad", "Disconnected"],
    failed_over: ["bad", "Failed over to another scheduler"],
    removed: ["bad", "Framework removed"],
    inactive: ["muted", "Not driving Mesos"],
  };
  const [kind, text] = kinds[state] || ["muted", state || "unknown"];
  return badge(kind, text);
}

const INT = new Intl.NumberFormat("en-US");

export function fmtInt(n) {
  return n === null || n === undefined ? "—" : INT.format(n);
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${INT.format(v)} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "2026-11-24 10:02:03" in the browser's time zone. */
export function fmtLocal(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso || "—";
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function fmtAgo(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A <time> element: local time, with the UTC instant on hover and for machines. */
export function time(iso, { ago = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h(
    "time",
    { datetime: iso, title: `${iso} (UTC)` },
    fmtLocal(iso),
    ago ? h("span", { class: "muted" }, ` (${fmtAgo(iso)})`) : null,
  );
}

/** Calls `fn` once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  let pending = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    pending = args;
    timer = setTimeout(() => {
      pending = null;
      fn(...args);
    }, ms);
  };
  wrapped.cancel = () => {
    clearTimeout(timer);
    pending = null;
  };
  /** Runs a pending call now. */
  wrapped.flush = () => {
    if (pending) {
      clearTimeout(timer);
      const args = pending;
      pending = null;
      fn(...args);
    }
  };
  return wrapped;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The hash of a GUI route: route("configs", "edit", name) → "#/configs/edit/<encoded>". */
export function route(...parts) {
  const query = parts.length && typeof parts[parts.length - 1] === "object" ? parts.pop() : null;
  let hash = `#/${parts.map((p) => encodeURIComponent(String(p))).join("/")}`;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    }
    const s = q.toString();
    if (s) hash += `?${s}`;
  }
  return hash;
}

/** A panel telling why a view has nothing to show. */
export function emptyState(title, ...text) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), ...text);
}

/** A panel for an error that stops a view from rendering. */
export function errorPanel(error, retry) {
  return h(
    "div",
    { class: "panel error-panel", role: "alert" },
    h("h2", {}, "This page could not be loaded"),
    h("p", {}, error && error.message ? error.message : String(error)),
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null,
  );
}

/**
 * A Mesos agent id shortened for narrow places: "…1cd78-S0" for the usual
 * "<framework uuid>-S<n>"; other ids as they are.
 */
export function shortAgent(id) {
  const m = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(-S\d+)$/i.exec(id || "");
  return m ? `…${id.slice(-(m[1].length + 5))}` : id;
}

/** "logstash.<agent id>.<n>" with the agent id shortened. */
function shortTask(id) {
  const m = /^(logstash\.)(.+)(\.\d+)$/.exec(id || "");
  return m ? `${m[1]}${shortAgent(m[2])}${m[3]}` : id;
}

/** An actor with its agent id shortened (see shortAgent). */
export function shortActor(actor) {
  return actor && actor.startsWith("executor:") ? `executor:${shortAgent(actor.slice(9))}` : actor;
}

/** A one-line summary of an event; `short` shortens agent ids. */
export function summarize(ev, { short = false } = {}) {
  const d = { ...(ev.data || {}) };
  if (short && d.agent_id) d.agent_id = shortAgent(d.agent_id);
  if (short && d.task_id) d.task_id = shortTask(d.task_id);
  switch (ev.type) {
    case "ConfigCreated":
      return `Config “${d.name}” created`;
    case "ConfigUpdated":
      return d.restored_from
        ? `Config “${d.name}” reverted to the version of event #${d.restored_from}`
        : `Config “${d.name}” updated`;
    case "ConfigDeleted":
      return `Config “${d.name}” deleted`;
    case "SettingsChanged": {
      const s = d.settings || {};
      return `Executor settings: ${(s.cpus_milli || 0) / 1000} CPU, ${s.mem_mib} MiB memory, ${s.logstash_heap_mib} MiB Logstash heap`;
    }
    case "FrameworkSubscribed":
      return `Subscribed to ${d.master} as framework ${d.framework_id} (replica ${d.replica})`;
    case "LeaderChanged":
      return `Replica ${d.replica} became leader (term ${d.term})`;
    case "ExecutorLaunched":
      return `Executor launched on ${d.hostname} (task ${d.task_id})`;
    case "TaskStateChanged":
      return `Task ${d.task_id} on agent ${d.agent_id}: ${d.state}${d.reason ? ` (${d.reason})` : ""}${d.message ? ` — ${d.message}` : ""}`;
    case "ExecutorConfigApplied":
      return `Agent ${d.agent_id} applied config set v${d.version}`;
    case "StreamsChanged":
      return `Stream ${d.change}: ${d.path} in container ${String(d.container_id).slice(0, 12)} (${d.image}) on agent ${d.agent_id}${d.reason ? ` — ${d.reason}` : ""}`;
    case "AgentRemoved":
      return `Agent ${d.agent_id} removed: ${d.reason}`;
    case "FrameworkRemoved":
      return `Framework ${d.framework_id} removed: ${d.reason}`;
    default:
      return ev.type;
  }
}

/** Event types, as /api/events knows them. */
export const EVENT_TYPES = [
  "ConfigCreated",
  "ConfigUpdated",
  "ConfigDeleted",
  "SettingsChanged",
  "FrameworkSubscribed",
  "LeaderChanged",
  "ExecutorLaunched",
  "TaskStateChanged",
  "ExecutorConfigApplied",
  "StreamsChanged",
  "AgentRemoved",
  "FrameworkRemoved",
];

/** The badge kind of an event type in lists. */
export function eventKind(type) {
  if (type === "ConfigDeleted" || type === "AgentRemoved" || type === "FrameworkRemoved") {
    return "bad";
  }
  if (type.startsWith("Config")) return "info";
  return "muted";
}

/** One event as a list item: seq, time, type, actor, what happened. */
export function eventItem(ev, { fresh = false } = {}) {
  return h(
    "li",
    { class: fresh ? "event fresh" : "event", dataset: { seq: ev.seq, type: ev.type } },
    h("span", { class: "event-seq" }, h("a", { href: route("asof", ev.seq), title: `View the configs as of event #${ev.seq}` }, `#${ev.seq}`)),
    h("span", { class: "event-time" }, time(ev.at)),
    h("span", { class: "event-type" }, badge(eventKind(ev.type), ev.type)),
    h("span", { class: "event-actor", title: ev.actor }, shortActor(ev.actor)),
    h("span", { class: "event-text" }, summarize(ev, { short: true })),
  );
}

/** A rate per second: "0.4", "12", "1,234". */
export function fmtRate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return v < 10 && v !== 0 ? v.toFixed(1) : INT.format(Math.round(v));
}

/** Bytes per second: "0 B/s", "1.5 KiB/s". */
export function fmtByteRate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return v < 1024 ? `${fmtRate(v)} B/s` : `${fmtBytes(v)}/s`;
}

/** A pipeline's state as a badge: running, failed (with Logstash's message) or starting. */
export function pipelineBadge(p) {
  if (p.state === "Running") return p.last_error ? badge("warn", "running the previous config", p.last_error) : badge("ok", "running");
  if (p.state === "Failed") return badge("bad", "failed", p.last_error || undefined);
  return badge("muted", p.state.toLowerCase());
}
