// Dashboard: what runs, what streams, what was lost, who leads, the
// problems of the cluster grouped, throughput over the last hour, and the
// last events, live. Executor counters come from the executors' periodic
// reports, which are not events: the dashboard polls only the summary of
// them (/api/executors/summary, a few KB with an ETag), and fetches the
// hour's history when the summary says a newer point exists.

import { api, apiOptional } from "./api.js";
import { lineChart, seriesOf } from "./chart.js";
import { problemList } from "./problems.js";
import {
  h,
  fill,
  badge,
  connectionBadge,
  fmtInt,
  fmtBytes,
  fmtRate,
  fmtByteRate,
  eventItem,
  debounce,
  emptyState,
  route,
} from "./util.js";

const POLL_MS = 5000;
const EVENTS_SHOWN = 12;
const PROBLEMS_SHOWN = 6;
const AFFECTS = {
  summary: new Set([
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
  ]),
  framework: new Set(["FrameworkSubscribed", "FrameworkRemoved", "SettingsChanged", "LeaderChanged"]),
  cluster: new Set(["LeaderChanged"]),
  configs: new Set(["ConfigCreated", "ConfigUpdated", "ConfigDeleted"]),
};

export async function render(root, _route, _app) {
  const state = {
    summary: null,
    framework: null,
    cluster: null,
    configs: null,
    events: [],
    history: null,
  };
  const [summary, framework, cluster, configs, events, history] = await Promise.all([
    api("api/executors/summary", { reuse: true }),
    api("api/framework"),
    apiOptional("api/cluster"),
    api("api/configs"),
    api(`api/events?limit=${EVENTS_SHOWN}`),
    api("api/metrics/history?window=1h", { reuse: true }),
  ]);
  Object.assign(state, { summary, framework, cluster, configs, events: events.events, history });

  const tiles = h("div", { class: "tiles", id: "dashboard-tiles" });
  const control = h("div", { class: "tiles three", id: "dashboard-control" });
  const problems = h("div", { id: "dashboard-problems-list" });
  const eventList = h("ol", { class: "events", id: "recent-events", "aria-live": "polite" });
  const waiting = "The graph starts with the executors' second report";
  const linesChart = lineChart({ id: "cluster-lines-chart", label: "Lines per second, all agents", format: fmtRate, unit: "lines/s", empty: waiting });
  const droppedChart = lineChart({
    id: "cluster-dropped-chart",
    label: "Dropped bytes per second, all agents",
    format: fmtByteRate,
    empty: waiting,
  });
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Dashboard")),
    tiles,
    h(
      "div",
      { class: "dashboard-split" },
      h(
        "section",
        { class: "panel", id: "dashboard-throughput", "aria-labelledby": "throughput-title" },
        h("div", { class: "panel-head" }, h("h2", { id: "throughput-title" }, "Throughput, last hour")),
        h("div", { class: "charts" }, linesChart.el, droppedChart.el),
      ),
      h(
        "section",
        { class: "panel problems", id: "dashboard-problems", "aria-labelledby": "dashboard-problems-title" },
        h(
          "div",
          { class: "panel-head" },
          h("h2", { id: "dashboard-problems-title" }, "Problems"),
          h("a", { href: route("nodes") }, "All nodes →"),
        ),
        problems,
      ),
    ),
    control,
    h(
      "section",
      { class: "panel", "aria-labelledby": "recent-title" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", { id: "recent-title" }, "Recent events"),
        h("a", { href: "#/audit" }, "Full audit history →"),
      ),
      eventList,
    ),
  );
  const drawTiles = () => {
    const all = buildTiles(state);
    fill(tiles, all.slice(0, 4));
    fill(control, all.slice(4));
    fill(problems, problemList(state.summary, { limit: PROBLEMS_SHOWN }));
  };
  const drawCharts = () => {
    linesChart.update(seriesOf(state.history.points, "lines_per_second"));
    droppedChart.update(seriesOf(state.history.points, "dropped_bytes_per_second"));
  };
  const drawEvents = (freshSeq) => {
    if (!state.events.length) {
      fill(eventList, h("li", { class: "event-empty" }, "No events yet. Creating a config records the first one."));
      return;
    }
    fill(eventList, state.events.map((ev) => eventItem(ev, { fresh: freshSeq && ev.seq >= freshSeq })));
  };
  drawTiles();
  drawCharts();
  drawEvents();

  const newest = (hist) => (hist && hist.points.length ? hist.points[hist.points.length - 1].at_ms : null);
  const refetch = {
    summary: async () => {
      state.summary = await api("api/executors/summary", { reuse: true });
      const rates = state.summary.rates;
      if (rates && rates.at_ms !== newest(state.history)) {
        state.history = await api("api/metrics/history?window=1h", { reuse: true });
        drawCharts();
      }
    },
    framework: async () => {
      state.framework = await api("api/framework");
    },
    cluster: async () => {
      state.cluster = await apiOptional("api/cluster");
    },
    configs: async () => {
      state.configs = await api("api/configs");
    },
  };
  const pending = new Set();
  const flush = debounce(async () => {
    const jobs = [...pending].map((k) => refetch[k]().catch(() => {}));
    pending.clear();
    await Promise.all(jobs);
    drawTiles();
  }, 250);

  let shown = state.summary;
  const poll = setInterval(async () => {
    try {
      await refetch.summary();
      if (state.summary !== shown) {
        shown = state.summary;
        drawTiles();
      }
    } catch {
      // The banner reports it.
    }
  }, POLL_MS);

  return {
    onEvent(ev) {
      if (state.events.some((e) => e.seq === ev.seq)) return;
      state.events.unshift(ev);
      state.events.length = Math.min(state.events.length, EVENTS_SHOWN);
      drawEvents(ev.seq);
      for (const [what, types] of Object.entries(AFFECTS)) {
        if (types.has(ev.type)) pending.add(what);
      }
      if (pending.size) flush();
    },
    refresh() {
      for (const what of Object.keys(refetch)) pending.add(what);
      flush();
    },
    destroy() {
      clearInterval(poll);
      flush.cancel();
      linesChart.destroy();
      droppedChart.destroy();
    },
  };
}

function tile(id, label, value, detail, status) {
  return h(
    "section",
    { class: "tile", id, "aria-labelledby": `${id}-label` },
    h("h2", { class: "tile-label", id: `${id}-label` }, label),
    h("p", { class: "tile-value" }, value),
    status ? h("p", { class: "tile-status" }, status) : null,
    detail ? h("p", { class: "tile-detail" }, detail) : null,
  );
}

function buildTiles(state) {
  const s = state.summary;
  const expected = s.agents;
  const running = s.running;
  const reported = s.totals.reported;
  const lines = s.totals.lines;
  const dropped = s.totals.dropped_bytes;
  const upToDate = s.up_to_date;
  const rate = s.rates ? s.rates.lines_per_second : null;
  const fw = state.framework;
  const conn = s.mesos || fw.connection || {};
  const cl = state.cluster;

  let execStatus;
  if (expected === 0) execStatus = badge("muted", "No agents known yet");
  else if (running === expected) execStatus = badge("ok", "All running");
  else execStatus = badge("warn", `${expected - running} not running`);

  const out = [
    tile(
      "tile-executors",
      "Executors running / expected",
      `${fmtInt(running)} / ${fmtInt(expected)}`,
      expected ? "one executor per known agent" : "executors appear once the scheduler launches them",
      execStatus,
    ),
    tile(
      "tile-streams",
      "Streaming containers",
      fmtInt(s.containers),
      `${fmtInt(s.streams)} file stream${s.streams === 1 ? "" : "s"}`,
      s.failed_streams ? badge("bad", `${s.failed_streams} failed stream${s.failed_streams === 1 ? "" : "s"}`) : null,
    ),
    tile(
      "tile-rate",
      "Lines per second",
      rate === null || rate === undefined ? "—" : fmtRate(rate),
      reported
        ? `${fmtInt(lines)} lines streamed in total, as ${reported} executor${reported === 1 ? "" : "s"} reported`
        : "no executor has reported yet",
      (rate === null || rate === undefined) && reported ? badge("muted", "waiting for a second report") : null,
    ),
    tile(
      "tile-dropped",
      "Dropped",
      reported ? fmtBytes(dropped) : "—",
      reported ? `${fmtInt(dropped)} bytes not shipped, as counted by the executors` : "no executor has reported yet",
      !reported ? null : dropped > 0 ? badge("bad", "Data was lost") : badge("ok", "Nothing dropped"),
    ),
    tile(
      "tile-mesos",
      "Mesos subscription",
      connectionBadge(conn.state),
      fw.framework_id
        ? h("span", {}, "framework ", h("code", {}, fw.framework_id), conn.master || fw.master ? ` at ${conn.master || fw.master}` : "")
        : conn.state === "inactive"
          ? "this process does not drive Mesos (local mode, or not the leader)"
          : "no framework id recorded yet",
      conn.last_error ? badge("bad", conn.last_error) : null,
    ),
  ];
  if (cl) {
    const replicas = cl.replicas || cl.members || cl.nodes || [];
    const leader = cl.leader ?? cl.leader_id ?? null;
    out.push(
      tile(
        "tile-cluster",
        "Leader and replicas",
        leader === null ? "No leader" : `Replica ${leader}`,
        `${replicas.length} replica${replicas.length === 1 ? "" : "s"}${cl.term !== undefined ? `, term ${cl.term}` : ""}`,
        leader === null ? badge("bad", "No leader elected") : badge("ok", "Leader elected"),
      ),
    );
  } else {
    out.push(
      tile(
        "tile-cluster",
        "Leader and replicas",
        "Single replica",
        "replication not configured",
        badge("muted", "No Raft cluster"),
      ),
    );
  }
  const configCount = state.configs.length;
  out.push(
    tile(
      "tile-configs",
      "Configs",
      fmtInt(configCount),
      h(
        "span",
        {},
        `config set v${s.config_version}`,
        expected ? ` · applied by ${upToDate} of ${expected} executors` : "",
      ),
      expected && upToDate < expected ? badge("warn", `${expected - upToDate} behind`) : null,
    ),
  );
  if (!configCount && !expected) {
    out.push(
      h(
        "div",
        { class: "tile tile-hint" },
        emptyState(
          "Nothing configured yet",
          h("p", {}, "Create a Logstash config for a Docker image to start streaming its log files. ", h("a", { href: route("configs", "new") }, "New config →")),
        ),
      ),
    );
  }
  return out;
}
