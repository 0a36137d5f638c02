// Nodes: every Mesos agent as one row of a table — our task there, the
// config set it applied, Logstash, throughput, drops, streams, the last
// report and errors — filtered and sorted by the server and shown a page at a
// time, so the page stays small with a thousand agents. The problems of the
// whole cluster are listed once each, with a link that filters the table to
// the agents they affect. A row opens the agent's card: its task, containers,
// streams, and its own throughput over the last hour.

import { api } from "./api.js";
import { lineChart, seriesOf } from "./chart.js";
import {
  h,
  fill,
  badge,
  taskBadge,
  logstashBadge,
  fmtInt,
  fmtBytes,
  fmtAgo,
  fmtRate,
  time,
  fmtByteRate,
  debounce,
  emptyState,
  route,
  shortAgent,
  pipelineBadge,
} from "./util.js";
import { problemList } from "./problems.js";

const POLL_MS = 5000;
const PAGE_SIZES = ["50", "100", "250", "500"];
const DEFAULT_LIMIT = "100";
const FILTERS = ["q", "state", "health", "config", "errors", "problem"];
const AFFECTS = new Set([
  "ExecutorLaunched",
  "TaskStateChanged",
  "ExecutorConfigApplied",
  "StreamsChanged",
  "AgentRemoved",
  "SettingsChanged",
  "FrameworkRemoved",
  "ConfigCreated",
  "ConfigUpdated",
  "ConfigDeleted",
]);

/** The table's columns: header, sort key, cell. */
const COLUMNS = [
  { title: "Host", sort: "host", cell: (ex, _v, open) => hostCell(ex, open) },
  { title: "Agent", sort: "agent", cell: (ex) => h("code", { title: ex.agent_id }, shortAgent(ex.agent_id)) },
  { title: "Task", sort: "state", cell: (ex) => taskBadge(ex.task && ex.task.state) },
  { title: "Config set", sort: "config", cell: (ex, v) => configCell(ex, v) },
  {
    title: "Logstash",
    sort: "health",
    cell: (ex) => (ex.report ? logstashBadge(ex.report.logstash) : badge("muted", "No report yet")),
  },
  {
    title: "Lines/s",
    sort: "lines_per_second",
    num: true,
    cell: (ex) => (ex.report && ex.report.lines_per_second !== null ? fmtRate(ex.report.lines_per_second) : "—"),
  },
  {
    title: "Dropped",
    sort: "dropped",
    num: true,
    cell: (ex) =>
      !ex.report ? "—" : ex.report.dropped_bytes ? h("span", { class: "bad-text" }, fmtBytes(ex.report.dropped_bytes)) : "0 B",
  },
  { title: "Streams", sort: "streams", num: true, cell: (ex) => streamsCell(ex) },
  {
    title: "Last report",
    sort: "last_report",
    cell: (ex) =>
      ex.report
        ? h("time", { datetime: ex.report.received_at, title: `${ex.report.received_at} (UTC)` }, fmtAgo(ex.report.received_at))
        : h("span", { class: "muted" }, "never"),
  },
  {
    title: "Errors",
    sort: "errors",
    num: true,
    cell: (ex) => {
      const n = ex.report ? ex.report.errors.length : 0;
      return n ? badge("bad", fmtInt(n), ex.report.errors[ex.report.errors.length - 1]) : "0";
    },
  },
];

const SORTS = [
  ["", "Problems first"],
  ["host", "Host"],
  ["agent", "Agent id"],
  ["state", "Task state"],
  ["config", "Config set"],
  ["health", "Logstash health"],
  ["-lines_per_second", "Most lines/s"],
  ["-dropped", "Most dropped"],
  ["streams", "Streams"],
  ["last_report", "Oldest report"],
  ["-last_report", "Newest report"],
  ["-errors", "Most errors"],
];

// Cursors of the pages before the current one, for "Previous"; kept while the
// filters and the sort stay the same.
let trail = { key: null, cursors: [] };

export async function render(root, { query }, app) {
  const view = {
    filters: Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""])),
    sort: query.get("sort") || "",
    limit: PAGE_SIZES.includes(query.get("limit")) ? query.get("limit") : DEFAULT_LIMIT,
    cursor: query.get("cursor") || "",
    open: query.get("open") || "",
  };
  const listKey = () => JSON.stringify([view.filters, view.sort, view.limit]);
  if (trail.key !== listKey()) trail = { key: listKey(), cursors: [] };
  if (!view.cursor) trail.cursors = [];

  const listQuery = () => {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (view.filters[k]) q.set(k, view.filters[k]);
    q.set("sort", view.sort || "problems");
    q.set("limit", view.limit);
    // The table shows counts; the card fetches the agent's streams.
    q.set("streams", "false");
    if (view.cursor) q.set("cursor", view.cursor);
    return q;
  };
  const hash = () =>
    route("nodes", {
      ...view.filters,
      sort: view.sort,
      limit: view.limit === DEFAULT_LIMIT ? "" : view.limit,
      cursor: view.cursor,
      open: view.open,
    });

  let summary;
  let page;
  let invalid = null;
  /** The summary and the page the view's query asks for now: [summary, page, invalid]. */
  const fetchBoth = async () => {
    const [s, answer] = await Promise.all([
      api("api/executors/summary", { reuse: true }),
      api(`api/executors?${listQuery()}`, { reuse: true }).catch((e) => {
        if (e.status !== 400) throw e;
        return e;
      }),
    ]);
    return answer instanceof Error
      ? [s, { executors: [], total: 0, next_cursor: null, config_version: s.config_version }, answer.message]
      : [s, answer, null];
  };
  [summary, page, invalid] = await fetchBoth();

  const headSummary = h("p", { class: "page-summary", id: "nodes-summary" });
  const problemsPanel = h("section", { class: "panel problems", id: "nodes-problems", "aria-labelledby": "nodes-problems-title" });
  const controls = filterBar(view, (changes) => {
    Object.assign(view, changes);
    view.cursor = "";
    trail = { key: listKey(), cursors: [] };
    app.replaceRoute(hash());
    reload().catch(() => {});
  });
  const results = h("section", { class: "panel", id: "nodes-results", "aria-labelledby": "nodes-results-title" });
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Nodes"), headSummary),
    problemsPanel,
    controls.el,
    results,
  );

  const detail = nodeDetail({
    onClose: () => {
      const agent = view.open;
      view.open = "";
      app.replaceRoute(hash());
      const link = results.querySelector(`tr[data-agent="${CSS.escape(agent)}"] a.node-link`);
      if (link) link.focus();
    },
  });
  root.append(detail.el);
  const openAgent = (agentId) => {
    view.open = agentId;
    app.replaceRoute(hash());
    detail.open(agentId, summary.config_version);
  };

  const drawHead = () => {
    const s = summary;
    fill(
      headSummary,
      s.agents
        ? `${fmtInt(s.agents)} agent${s.agents === 1 ? "" : "s"} · ${fmtInt(s.running)} executor${s.running === 1 ? "" : "s"} running · ${fmtInt(s.up_to_date)} on the current config set v${s.config_version} · ${fmtInt(s.with_problems)} with problems`
        : `Current config set v${s.config_version}`,
    );
    fill(
      problemsPanel,
      h("h2", { id: "nodes-problems-title" }, "Problems"),
      problemList(s, { active: view.filters.problem }),
    );
    controls.update(s);
  };

  const go = (cursor) => {
    view.cursor = cursor;
    app.replaceRoute(hash());
    reload()
      .then(() => {
        const heading = document.getElementById("nodes-results-title");
        if (heading) heading.focus({ preventScroll: false });
      })
      .catch(() => {});
  };

  const drawResults = () => {
    if (!summary.agents && !invalid) {
      const inactive = summary.mesos && summary.mesos.state === "inactive";
      fill(
        results,
        h("h2", { id: "nodes-results-title", class: "visually-hidden" }, "Agents"),
        emptyState(
          "No agents known yet",
          h(
            "p",
            {},
            inactive
              ? "This process does not drive Mesos (it runs in local mode, or it is not the leader), so no executor has been launched from here. "
              : "Executors appear here once the scheduler has launched them on Mesos agents that match its resources and constraints. ",
            "Each agent gets one row with its task, its Logstash health, the config version it applied and its streams.",
          ),
        ),
      );
      return;
    }
    const shown = page.executors;
    const before = trail.cursors.length * Number(view.limit);
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      view.cursor
        ? h(
            "button",
            {
              type: "button",
              class: "small",
              id: "page-previous",
              onclick: () => go(trail.cursors.pop() || ""),
            },
            "← Previous",
          )
        : null,
      page.next_cursor
        ? h(
            "button",
            {
              type: "button",
              class: "small",
              id: "page-next",
              onclick: () => {
                trail.cursors.push(view.cursor);
                go(page.next_cursor);
              },
            },
            "Next →",
          )
        : null,
    );
    fill(
      results,
      h(
        "div",
        { class: "panel-head" },
        h("h2", { id: "nodes-results-title", tabindex: "-1" }, "Agents"),
        h(
          "p",
          { class: "muted", id: "nodes-count", dataset: { total: page.total } },
          invalid
            ? ""
            : page.total
              ? `${fmtInt(page.total)} agent${page.total === 1 ? "" : "s"} match · rows ${fmtInt(before + 1)}–${fmtInt(before + shown.length)}`
              : "No agent matches these filters",
        ),
      ),
      invalid ? h("p", { role: "alert" }, badge("bad", "Invalid filter"), " ", invalid) : null,
      shown.length
        ? h("div", { class: "table-wrap" }, nodesTable(shown, page.config_version, view, sortBy, openAgent))
        : invalid
          ? null
          : emptyState("No agent matches", h("p", {}, "Change the filters, or ", h("a", { href: "#/nodes" }, "show every agent"), ".")),
      pager,
    );
  };

  const sortBy = (column) => {
    const current = view.sort.replace(/^-/, "");
    const next = current === column && !view.sort.startsWith("-") ? `-${column}` : column;
    controls.setSort(next);
    Object.assign(view, { sort: next, cursor: "" });
    trail = { key: listKey(), cursors: [] };
    app.replaceRoute(hash());
    reload()
      .then(() => {
        const button = results.querySelector(`th button[data-sort="${column}"]`);
        if (button) button.focus();
      })
      .catch(() => {});
  };

  let drawn = null;
  // Answers to an older query than the latest asked are dropped.
  let asked = 0;
  const reload = async () => {
    const mine = ++asked;
    const answer = await fetchBoth();
    if (mine !== asked) return;
    [summary, page, invalid] = answer;
    if (detail.isOpen()) detail.refresh(summary.config_version);
    if (drawn && drawn.summary === summary && drawn.page === page) return;
    drawn = { summary, page };
    drawHead();
    drawResults();
  };
  drawn = { summary, page };
  drawHead();
  drawResults();
  if (view.open) detail.open(view.open, summary.config_version);

  const later = debounce(() => reload().catch(() => {}), 250);
  const poll = setInterval(() => reload().catch(() => {}), POLL_MS);
  return {
    onEvent(ev) {
      if (AFFECTS.has(ev.type)) later();
    },
    refresh: later,
    destroy() {
      clearInterval(poll);
      later.cancel();
      controls.destroy();
      detail.destroy();
    },
  };
}

/** The filters: a search field and menus; `apply(changes)` on every change. */
function filterBar(view, apply) {
  const changed = (key, value) => apply({ filters: { ...view.filters, [key]: value } });
  const search = h("input", {
    id: "nodes-search",
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    value: view.filters.q,
    placeholder: "Host, agent id, container or image",
    "aria-describedby": "nodes-search-help",
  });
  const typed = debounce(() => changed("q", search.value.trim()), 300);
  search.addEventListener("input", typed);
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      typed.flush();
    }
  });
  const menu = (id, label, value, options, onChange) => {
    const select = h(
      "select",
      { id, value, onchange: () => onChange(select.value) },
      options.map(([v, text]) => h("option", { value: v }, text)),
    );
    return { field: h("div", { class: "field" }, h("label", { for: id }, label), select), select };
  };
  const filter = (id, key, label, options) => menu(id, label, view.filters[key], options, (v) => changed(key, v)).field;
  const sort = menu("nodes-sort", "Sort", SORTS.some(([v]) => v === view.sort) ? view.sort : "", SORTS, (v) =>
    apply({ sort: v }),
  );
  const limit = menu(
    "nodes-limit",
    "Per page",
    view.limit,
    PAGE_SIZES.map((n) => [n, n]),
    (v) => apply({ limit: v }),
  );
  const problemChip = h("div", { class: "active-problem", id: "nodes-problem-filter" });
  const el = h(
    "form",
    { class: "panel filters nodes-filters", id: "nodes-filters", role: "search", "aria-label": "Filter agents" },
    h(
      "div",
      { class: "nodes-filter-grid" },
      h(
        "div",
        { class: "field search" },
        h("label", { for: "nodes-search" }, "Search"),
        search,
        h("p", { class: "visually-hidden", id: "nodes-search-help" }, "Part of a host name, an agent id, a container id or an image."),
      ),
      filter("nodes-state", "state", "Task", [
        ["", "Any"],
        ["Running", "Running"],
        ["Staging,Starting", "Staging or starting"],
        ["Killing", "Killing"],
        ["Unreachable", "Unreachable"],
        ["none", "No executor"],
      ]),
      filter("nodes-health", "health", "Logstash", [
        ["", "Any"],
        ["Running", "Running"],
        ["Starting", "Starting"],
        ["Restarting", "Restarting"],
        ["Failed", "Failed"],
        ["NotInstalled", "Not installed"],
        ["unreported", "No report yet"],
      ]),
      filter("nodes-config", "config", "Config set", [
        ["", "Any"],
        ["current", "Current"],
        ["behind", "Behind"],
      ]),
      filter("nodes-errors", "errors", "Errors", [
        ["", "Any"],
        ["true", "With errors"],
        ["false", "Without errors"],
      ]),
      sort.field,
      limit.field,
    ),
    problemChip,
  );
  el.addEventListener("submit", (e) => e.preventDefault());
  return {
    el,
    /** Names the problem the table is filtered to, by its message. */
    update(summary) {
      if (!view.filters.problem) {
        problemChip.replaceChildren();
        return;
      }
      const known = (summary.problems || []).find((p) => p.id === view.filters.problem);
      fill(
        problemChip,
        badge("info", "Filtered"),
        " Agents with the problem ",
        h("strong", {}, known ? `“${known.message}”` : view.filters.problem),
        " ",
        h(
          "button",
          { type: "button", class: "small", id: "nodes-clear-problem", onclick: () => changed("problem", "") },
          "Show all agents",
        ),
      );
    },
    setSort(value) {
      sort.select.value = SORTS.some(([v]) => v === value) ? value : "";
    },
    destroy() {
      typed.cancel();
    },
  };
}

function nodesTable(executors, configVersion, view, sortBy, openAgent) {
  const active = (view.sort || "problems").replace(/^-/, "");
  const descending = view.sort.startsWith("-");
  return h(
    "table",
    { class: "stack nodes-table", id: "nodes-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        COLUMNS.map((c) =>
          h(
            "th",
            {
              scope: "col",
              class: c.num ? "num" : null,
              "aria-sort": active === c.sort ? (descending ? "descending" : "ascending") : null,
            },
            h(
              "button",
              { type: "button", class: "sort", dataset: { sort: c.sort }, onclick: () => sortBy(c.sort) },
              c.title,
              h("span", { class: "sort-mark", "aria-hidden": "true" }, active === c.sort ? (descending ? "▼" : "▲") : ""),
            ),
          ),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      executors.map((ex) =>
        h(
          "tr",
          {
            class: rowClass(ex),
            dataset: { agent: ex.agent_id, received: ex.report ? String(Date.parse(ex.report.received_at)) : "" },
            onclick: (e) => {
              if (!e.target.closest("a, button")) openAgent(ex.agent_id);
            },
          },
          COLUMNS.map((c, i) =>
            h(
              i === 0 ? "th" : "td",
              { scope: i === 0 ? "row" : null, class: c.num ? "num" : null, "data-label": c.title },
              c.cell(ex, configVersion, openAgent),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Marks rows that need a look: red for failures, amber for the rest. */
function rowClass(ex) {
  const task = ex.task && ex.task.state;
  const r = ex.report;
  if (!task || (r && (r.logstash === "Failed" || r.dropped_bytes > 0)) || ex.failed_streams) {
    return "row-bad";
  }
  if (task !== "Running" || !ex.up_to_date || (r && r.errors.length)) return "row-warn";
  return null;
}

function hostCell(ex, openAgent) {
  return h(
    "a",
    {
      class: "node-link",
      href: route("nodes", { open: ex.agent_id }),
      onclick: (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        openAgent(ex.agent_id);
      },
    },
    ex.hostname || ex.agent_id,
  );
}

function configCell(ex, configVersion) {
  if (ex.applied_version === null || ex.applied_version === undefined) return badge("warn", "not applied");
  if (ex.up_to_date) return badge("ok", `v${ex.applied_version}`);
  return badge("warn", `v${ex.applied_version} · behind v${configVersion}`);
}

function streamsCell(ex) {
  return ex.failed_streams
    ? h("span", {}, fmtInt(ex.stream_count), " ", badge("bad", `${ex.failed_streams} failed`))
    : fmtInt(ex.stream_count);
}

/** The agent's card in a dialog, with its own throughput over the last hour. */
function nodeDetail({ onClose }) {
  const body = h("div", { class: "node-detail-body" });
  const lines = lineChart({
    id: "node-lines-chart",
    label: "Lines per second",
    format: fmtRate,
    unit: "lines/s",
    empty: "Waiting for this executor's second report",
  });
  const dropped = lineChart({
    id: "node-dropped-chart",
    label: "Dropped bytes per second",
    format: fmtByteRate,
    empty: "Waiting for this executor's second report",
  });
  const el = h(
    "dialog",
    { id: "node-detail", class: "node-detail", "aria-labelledby": "node-detail-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("p", { class: "muted", id: "node-detail-title" }, "Agent"),
      h("button", { type: "button", class: "small", id: "node-detail-close", onclick: () => el.close() }, "Close"),
    ),
    h(
      "div",
      { class: "node-detail-grid" },
      body,
      h(
        "section",
        { class: "node-charts", "aria-labelledby": "node-charts-title" },
        h("h3", { id: "node-charts-title" }, "Over the last hour"),
        lines.el,
        dropped.el,
      ),
    ),
  );
  let agent = null;
  let alive = true;
  el.addEventListener("close", () => {
    if (alive) onClose();
  });
  const load = async (configVersion) => {
    const id = agent;
    const q = new URLSearchParams({ agent: id });
    const [list, history, endpoints] = await Promise.all([
      api(`api/executors?${q}`, { reuse: true }),
      api(`api/metrics/history?${q}&window=1h`, { reuse: true }).catch((e) => {
        if (e.status === 404) return { points: [] };
        throw e;
      }),
      api("api/endpoints", { reuse: true }).catch(() => ({ endpoints: [] })),
    ]);
    if (id !== agent) return;
    const ex = list.executors[0];
    fill(el.querySelector("#node-detail-title"), `Agent ${shortAgent(id)}`);
    if (ex) el.setAttribute("aria-labelledby", `node-${ex.agent_id}`);
    fill(
      body,
      ex ? card(ex, configVersion, endpoints.endpoints) : emptyState("This agent is no longer known", h("p", {}, "It was removed from the cluster.")),
    );
    lines.update(seriesOf(history.points, "lines_per_second"));
    dropped.update(seriesOf(history.points, "dropped_bytes_per_second"));
  };
  return {
    el,
    open(agentId, configVersion) {
      agent = agentId;
      fill(body, h("p", { class: "loading" }, "Loading…"));
      if (!el.open) el.showModal();
      load(configVersion).catch((e) => fill(body, h("p", { role: "alert" }, badge("bad", "Not loaded"), " ", e.message)));
    },
    refresh(configVersion) {
      if (el.open && agent) load(configVersion).catch(() => {});
    },
    isOpen: () => el.open,
    destroy() {
      alive = false;
      lines.destroy();
      dropped.destroy();
      if (el.open) el.close();
    },
  };
}

function row(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

function card(ex, configVersion, endpoints = []) {
  const task = ex.task;
  const report = ex.report;
  let versionBadge;
  if (ex.applied_version === null || ex.applied_version === undefined) {
    versionBadge = badge("warn", `not applied yet (current v${configVersion})`);
  } else if (ex.up_to_date) {
    versionBadge = badge("ok", `v${ex.applied_version} — current`);
  } else {
    versionBadge = badge("warn", `v${ex.applied_version} — behind v${configVersion}`);
  }
  const health = report
    ? logstashBadge(report.logstash)
    : badge("muted", "No report yet");
  const errors = report && report.errors.length ? report.errors : [];
  const last = ex.last_ended_task;
  return h(
    "article",
    { class: "card node", "aria-labelledby": `node-${ex.agent_id}`, dataset: { agent: ex.agent_id } },
    h(
      "header",
      { class: "card-head" },
      h("h2", { id: `node-${ex.agent_id}` }, ex.hostname || ex.agent_id),
      taskBadge(task && task.state),
    ),
    h(
      "dl",
      { class: "facts" },
      row("Agent", h("code", {}, ex.agent_id)),
      row("Task", task ? h("code", {}, task.task_id) : "none running"),
      task ? row("Since", time(task.updated_at, { ago: true })) : null,
      task && task.message ? row("Message", task.message) : null,
      task
        ? row(
            "Settings",
            task.current_settings ? badge("ok", "current") : badge("warn", "outdated — replaced on the next rollout"),
          )
        : null,
      row("Config set", versionBadge),
      row("Health", health),
      report ? row("Reported", time(report.received_at, { ago: true })) : null,
      !task && last
        ? row("Last task", h("span", {}, h("code", {}, last.task_id), " ", taskBadge(last.state), last.message ? ` ${last.message}` : ""))
        : null,
    ),
    report
      ? h(
          "dl",
          { class: "counters" },
          row("Lines", fmtInt(report.lines)),
          row("Bytes", fmtBytes(report.bytes)),
          row("Dropped", report.dropped_bytes ? h("span", { class: "bad-text" }, fmtBytes(report.dropped_bytes)) : "0 B"),
          row("Rotations", fmtInt(report.rotations)),
        )
      : null,
    errors.length
      ? h(
          "div",
          { class: "node-errors", role: "group", "aria-label": "Recent errors" },
          h("h3", {}, badge("bad", `${errors.length} recent error${errors.length === 1 ? "" : "s"}`)),
          h("ul", {}, errors.slice(-5).map((e) => h("li", {}, e))),
        )
      : null,
    pipelinesTable(report),
    listening(ex, endpoints),
    streamsTable(ex),
  );
}

/** Each config's Logstash pipeline on the agent, from Logstash's monitoring API. */
function pipelinesTable(report) {
  const pipelines = report && report.pipelines ? report.pipelines : [];
  if (!pipelines.length) return null;
  return h(
    "div",
    { class: "pipelines", role: "group", "aria-label": "Logstash pipelines" },
    h("h3", {}, `Pipelines (${pipelines.length})`),
    h(
      "ul",
      { class: "pipeline-list" },
      pipelines.map((p) =>
        h(
          "li",
          { class: "pipeline", dataset: { config: p.config, state: p.state } },
          pipelineBadge(p),
          " ",
          h("strong", {}, p.config),
          h("span", { class: "muted" }, ` ${fmtInt(p.events_in)} in · ${fmtInt(p.events_out)} out`),
          p.last_error ? h("span", { class: "stream-reason" }, p.last_error) : null,
        ),
      ),
    ),
  );
}

/** Where configs listen on this agent, and ports it does not offer. */
function listening(ex, endpoints) {
  const here = [];
  for (const e of endpoints) {
    for (const a of e.agents) if (a.agent_id === ex.agent_id) here.push(h("li", {}, h("strong", {}, e.config), " ", a.addresses.map((x) => h("code", {}, x)), ""));
    for (const u of e.unavailable || []) if (u.agent_id === ex.agent_id) here.push(h("li", {}, badge("bad", e.config, u.reason), " ", u.reason));
  }
  if (!here.length) return null;
  return h("div", { class: "endpoints", role: "group", "aria-label": "Endpoints" }, h("h3", {}, "Listening"), h("ul", {}, here));
}

/** The agent's containers, each with its streamed files, states and counters. */
function streamsTable(ex) {
  const byContainer = new Map();
  for (const s of ex.streams) {
    if (!byContainer.has(s.container_id)) byContainer.set(s.container_id, []);
    byContainer.get(s.container_id).push(s);
  }
  const title = h(
    "h3",
    {},
    `Containers (${byContainer.size}) · streams (${ex.streams.length})`,
  );
  if (!ex.streams.length) {
    return h("div", { class: "streams" }, title, h("p", { class: "muted" }, "No stream reported by this executor."));
  }
  return h(
    "div",
    { class: "streams" },
    title,
    h(
      "ul",
      { class: "containers" },
      [...byContainer].map(([id, streams]) =>
        h(
          "li",
          { class: "container", dataset: { container: id } },
          h(
            "div",
            { class: "container-head" },
            h("code", { title: id }, id.slice(0, 12)),
            h("span", { class: "container-image" }, streams[0].image),
          ),
          h(
            "ul",
            { class: "files" },
            streams.map((s) =>
              h(
                "li",
                { class: "stream" },
                s.state === "started" ? badge("ok", "streaming") : badge("bad", s.state, s.reason || undefined),
                h("code", { class: "stream-path" }, s.path),
                h(
                  "span",
                  { class: "stream-counters" },
                  `${fmtInt(s.lines)} lines · ${fmtBytes(s.bytes)}`,
                  s.dropped_bytes
                    ? [" · ", h("span", { class: "bad-text" }, `${fmtBytes(s.dropped_bytes)} dropped`)]
                    : " · nothing dropped",
                ),
                s.reader
                  ? h(
                      "span",
                      { class: "stream-reader", title: s.reader_note || "" },
                      s.reader === "exec" && s.reader_note ? `exec reader (${s.reader_note})` : `${s.reader} reader`,
                    )
                  : null,
                s.reason && s.state !== "started" ? h("span", { class: "stream-reason" }, s.reason) : null,
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
