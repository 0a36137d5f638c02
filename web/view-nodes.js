// Nodes: one card per Mesos agent — our task there, the executor's health,
// the config version it applied against the current one, and its streams.

import { api } from "./api.js";
import {
  h,
  fill,
  badge,
  taskBadge,
  logstashBadge,
  fmtInt,
  fmtBytes,
  time,
  debounce,
  emptyState,
} from "./util.js";

const POLL_MS = 5000;
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

export async function render(root) {
  let [data, framework] = await Promise.all([api("api/executors"), api("api/framework")]);
  const summary = h("p", { class: "page-summary", id: "nodes-summary" });
  const grid = h("div", { class: "cards", id: "node-cards" });
  fill(root, h("div", { class: "page-head" }, h("h1", {}, "Nodes"), summary), grid);

  const draw = () => {
    const exs = data.executors;
    const running = exs.filter((e) => e.task && e.task.state === "Running").length;
    const current = exs.filter((e) => e.up_to_date).length;
    fill(
      summary,
      exs.length
        ? `${exs.length} agent${exs.length === 1 ? "" : "s"} · ${running} executor${running === 1 ? "" : "s"} running · ${current} on the current config set v${data.config_version}`
        : `Current config set v${data.config_version}`,
    );
    if (!exs.length) {
      const inactive = framework.connection && framework.connection.state === "inactive";
      fill(
        grid,
        emptyState(
          "No agents known yet",
          h(
            "p",
            {},
            inactive
              ? "This process does not drive Mesos (it runs in local mode, or it is not the leader), so no executor has been launched from here. "
              : "Executors appear here once the scheduler has launched them on Mesos agents that match its resources and constraints. ",
            "Each agent gets one card with its task, its Logstash health, the config version it applied and its streams.",
          ),
        ),
      );
      return;
    }
    fill(grid, exs.map((ex) => card(ex, data.config_version)));
  };
  draw();

  const reload = async () => {
    [data, framework] = await Promise.all([api("api/executors"), api("api/framework")]);
    draw();
  };
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
    },
  };
}

function row(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

function card(ex, configVersion) {
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
    streamsTable(ex),
  );
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
                s.reason && s.state !== "started" ? h("span", { class: "stream-reason" }, s.reason) : null,
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
