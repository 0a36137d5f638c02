// Cluster: the scheduler replicas (GET /api/cluster, when replication is
// built in), the framework's registration and this replica's Mesos connection.
//
// GET /api/cluster is read as
//   {leader, term, commit_index, applied_index,
//    replicas: [{id, addr, role, matched, lag}]}
// also accepting the usual alternative names (leader_id, current_term,
// committed, last_applied, members/nodes, node_id, address, state,
// matched_index/applied_index, lag_entries). A 404 means this build or this
// process has no replication: the page says "single replica".

import { api, apiOptional } from "./api.js";
import { h, fill, badge, connectionBadge, fmtInt, time, debounce, emptyState } from "./util.js";

const AFFECTS = new Set(["LeaderChanged", "FrameworkSubscribed", "FrameworkRemoved", "SettingsChanged"]);
const POLL_MS = 5000;

/** The first of `keys` that `obj` has (the cluster API's field names may vary). */
function pick(obj, ...keys) {
  for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) return obj[k];
  return undefined;
}

export async function render(root) {
  const replicasBox = h("section", { class: "panel", id: "cluster-replicas", "aria-labelledby": "replicas-title" });
  const frameworkBox = h("section", { class: "panel", id: "cluster-framework", "aria-labelledby": "framework-title" });
  fill(root, h("div", { class: "page-head" }, h("h1", {}, "Cluster")), replicasBox, frameworkBox);

  const load = async () => {
    const [cluster, framework, health] = await Promise.all([
      apiOptional("api/cluster"),
      api("api/framework"),
      api("health"),
    ]);
    drawReplicas(replicasBox, cluster, health);
    drawFramework(frameworkBox, framework);
  };
  await load();
  const later = debounce(() => load().catch(() => {}), 250);
  const poll = setInterval(() => load().catch(() => {}), POLL_MS);
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

function drawReplicas(box, cluster, health) {
  const title = h("h2", { id: "replicas-title" }, "Scheduler replicas");
  if (!cluster) {
    fill(
      box,
      title,
      emptyState(
        "Single replica; replication not configured",
        h(
          "p",
          {},
          "This scheduler keeps its event journal on its own disk and answers every request itself. ",
          `Its journal ends at event #${fmtInt(health.last_seq)}. `,
          "Replicas, their roles, term, commit and applied index appear here once the scheduler runs as a replicated cluster.",
        ),
      ),
    );
    return;
  }
  const replicas = pick(cluster, "replicas", "members", "nodes") || [];
  const leader = pick(cluster, "leader", "leader_id");
  const term = pick(cluster, "term", "current_term");
  const commit = pick(cluster, "commit_index", "committed", "commit");
  const applied = pick(cluster, "applied_index", "last_applied", "applied");
  fill(
    box,
    h("div", { class: "panel-head" }, title, leader === undefined || leader === null ? badge("bad", "No leader") : badge("ok", `Leader: replica ${leader}`)),
    h(
      "dl",
      { class: "facts wide" },
      h("dt", {}, "Term"),
      h("dd", {}, term === undefined ? "—" : fmtInt(term)),
      h("dt", {}, "Commit index"),
      h("dd", {}, commit === undefined ? "—" : fmtInt(commit)),
      h("dt", {}, "Applied index (this replica)"),
      h("dd", {}, applied === undefined ? "—" : fmtInt(applied)),
      h("dt", {}, "Journal"),
      h("dd", {}, `ends at event #${fmtInt(health.last_seq)}`),
    ),
    replicas.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { id: "replica-table" },
            h("thead", {}, h("tr", {}, ["Replica", "Address", "Role", "Matched / applied", "Lag"].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              replicas.map((r) => {
                const id = pick(r, "id", "node_id", "replica");
                const role = String(pick(r, "role", "state") || (id === leader ? "leader" : r.voter === false ? "learner" : "follower"));
                const lag = pick(r, "lag", "lag_entries");
                const index = pick(r, "matched", "matched_index", "applied_index", "applied", "last_log_index");
                const roleKind = /leader/i.test(role) ? "ok" : /learner|candidate/i.test(role) ? "warn" : /down|unreachable|offline/i.test(role) ? "bad" : "info";
                return h(
                  "tr",
                  {},
                  h("th", { scope: "row" }, `Replica ${id}`),
                  h("td", {}, h("code", {}, pick(r, "addr", "address", "api", "url") || "—")),
                  h("td", {}, badge(roleKind, role)),
                  h("td", { class: "num" }, index === undefined ? "—" : fmtInt(index)),
                  h(
                    "td",
                    { class: "num" },
                    lag === undefined || lag === null ? "—" : lag > 0 ? badge("warn", `${fmtInt(lag)} behind`) : badge("ok", "in sync"),
                  ),
                );
              }),
            ),
          ),
        )
      : null,
  );
}

function drawFramework(box, fw) {
  const c = fw.connection || {};
  fill(
    box,
    h("div", { class: "panel-head" }, h("h2", { id: "framework-title" }, "Mesos framework"), connectionBadge(c.state)),
    h(
      "dl",
      { class: "facts wide" },
      h("dt", {}, "Framework id"),
      h("dd", {}, fw.framework_id ? h("code", {}, fw.framework_id) : "not registered yet"),
      h("dt", {}, "Master (last subscription)"),
      h("dd", {}, fw.master ? h("code", {}, fw.master) : "—"),
      h("dt", {}, "Subscribed"),
      h("dd", {}, fw.subscribed_at ? [time(fw.subscribed_at, { ago: true }), ` by replica ${fw.replica}`] : "—"),
      h("dt", {}, "This replica's connection"),
      h(
        "dd",
        {},
        connectionBadge(c.state),
        c.master ? [" to ", h("code", {}, c.master)] : null,
        c.since ? [" since ", time(c.since, { ago: true })] : null,
      ),
      h("dt", {}, "Offers"),
      h("dd", {}, c.suppressed ? badge("info", "suppressed: every agent has its executor") : c.state === "subscribed" ? badge("info", "receiving offers") : "—"),
      c.last_error ? [h("dt", {}, "Last error"), h("dd", {}, badge("bad", c.last_error))] : null,
      h("dt", {}, "Executor settings"),
      h("dd", {}, fw.settings_fingerprint ? h("code", {}, fw.settings_fingerprint) : "none recorded yet"),
    ),
    c.state === "inactive"
      ? h("p", { class: "muted" }, "This process does not drive Mesos: it runs in local mode, or another replica leads.")
      : null,
  );
}
