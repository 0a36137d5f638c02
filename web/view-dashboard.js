// Dashboard: what runs, what streams, what was lost, who leads, and the last
// events, live. Executor counters come from the executors' periodic reports,
// which are not events, so /api/executors is also polled.

import { api, apiOptional } from "./api.js";
import {
  h,
  fill,
  badge,
  connectionBadge,
  fmtInt,
  fmtBytes,
  eventItem,
  debounce,
  emptyState,
  route,
} from "./util.js";

const POLL_MS = 5000;
const EVENTS_SHOWN = 12;
const AFFECTS = {
  executors: new Set([
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
    executors: null,
    framework: null,
    cluster: null,
    configs: null,
    events: [],
    samples: new Map(),
    rate: null,
  };
  const [executors, framework, cluster, configs, events] = await Promise.all([
    api("api/executors"),
    api("api/framework"),
    apiOptional("api/cluster"),
    api("api/configs"),
    api(`api/events?limit=${EVENTS_SHOWN}`),
  ]);
  Object.assign(state, { executors, framework, cluster, configs, events: events.events });
  sample(state);

  const tiles = h("div", { class: "tiles", id: "dashboard-tiles" });
  const control = h("div", { class: "tiles three", id: "dashboard-control" });
  const eventList = h("ol", { class: "events", id: "recent-events", "aria-live": "polite" });
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Dashboard")),
    tiles,
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
  };
  const drawEvents = (freshSeq) => {
    if (!state.events.length) {
      fill(eventList, h("li", { class: "event-empty" }, "No events yet. Creating a config records the first one."));
      return;
    }
    fill(eventList, state.events.map((ev) => eventItem(ev, { fresh: freshSeq && ev.seq >= freshSeq })));
  };
  drawTiles();
  drawEvents();

  const refetch = {
    executors: async () => {
      state.executors = await api("api/executors");
      sample(state);
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

  const poll = setInterval(async () => {
    try {
      await Promise.all([refetch.executors(), refetch.framework()]);
      drawTiles();
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
    },
  };
}

/** Keeps the last two reports' counters per agent, for lines per second. */
function sample(state) {
  let total = 0;
  let measured = false;
  for (const ex of state.executors.executors) {
    if (!ex.report) continue;
    const t = Date.parse(ex.report.received_at);
    const lines = ex.report.lines;
    let entry = state.samples.get(ex.agent_id);
    if (!entry) {
      entry = { t, lines, rate: null };
    } else if (t !== entry.t) {
      // A restarted executor counts from zero again: no rate from that pair.
      const rate = t > entry.t && lines >= entry.lines ? (lines - entry.lines) / ((t - entry.t) / 1000) : null;
      entry = { t, lines, rate };
    }
    state.samples.set(ex.agent_id, entry);
    if (entry.rate !== null) {
      total += entry.rate;
      measured = true;
    }
  }
  state.rate = measured ? total : null;
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
  const exs = state.executors.executors;
  const expected = exs.length;
  const running = exs.filter((e) => e.task && e.task.state === "Running").length;
  const containers = new Set();
  let streams = 0;
  let failedStreams = 0;
  let lines = 0;
  let dropped = 0;
  let reported = 0;
  for (const ex of exs) {
    for (const s of ex.streams) {
      if (s.state === "started") {
        containers.add(`${ex.agent_id}/${s.container_id}`);
        streams += 1;
      } else if (s.state === "failed") {
        failedStreams += 1;
      }
    }
    if (ex.report) {
      reported += 1;
      lines += ex.report.lines;
      dropped += ex.report.dropped_bytes;
    }
  }
  const upToDate = exs.filter((e) => e.up_to_date).length;
  const fw = state.framework;
  const conn = fw.connection || {};
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
      fmtInt(containers.size),
      `${fmtInt(streams)} file stream${streams === 1 ? "" : "s"}`,
      failedStreams ? badge("bad", `${failedStreams} failed stream${failedStreams === 1 ? "" : "s"}`) : null,
    ),
    tile(
      "tile-rate",
      "Lines per second",
      state.rate === null ? "—" : fmtInt(Math.round(state.rate)),
      reported
        ? `${fmtInt(lines)} lines streamed in total, as ${reported} executor${reported === 1 ? "" : "s"} reported`
        : "no executor has reported yet",
      state.rate === null && reported ? badge("muted", "waiting for a second report") : null,
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
        `config set v${state.executors.config_version}`,
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
