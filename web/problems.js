// The problems of the cluster, each shown once with the number of agents it
// affects and a link to the Nodes table filtered to them. Shared by the
// dashboard and the Nodes page; the grouping is the server's
// (/api/executors/summary).

import { h, badge, fmtInt, route } from "./util.js";

const KINDS = {
  task: "Executor",
  report: "Reports",
  config: "Config set",
  settings: "Settings",
  logstash: "Logstash",
  stream: "Stream",
  dropped: "Dropped data",
  executor: "Executor error",
};

/** The list of `summary.problems`; `active` is the id the table is filtered to. */
export function problemList(summary, { active = "", limit = Infinity } = {}) {
  const problems = summary.problems || [];
  if (!problems.length) {
    return h(
      "p",
      { class: "no-problems", id: "problems-none" },
      badge("ok", "No problems"),
      summary.agents
        ? " Every executor runs, reports, and applied the current config set; nothing was dropped."
        : " No agent is known yet.",
    );
  }
  const shown = problems.slice(0, limit);
  const hidden = problems.length - shown.length + (summary.more_problems || 0);
  return [
    h(
      "ul",
      { class: "problem-list", id: "problem-list" },
      shown.map((p) =>
        h(
          "li",
          {
            class: p.id === active ? "problem active" : "problem",
            dataset: { problem: p.id, kind: p.kind },
          },
          badge(p.severity === "error" ? "bad" : "warn", KINDS[p.kind] || p.kind),
          h("span", { class: "problem-message", title: `For example: ${p.example}` }, p.message),
          h(
            "span",
            { class: "problem-counts" },
            h(
              "a",
              {
                class: "problem-link",
                href: route("nodes", { problem: p.id }),
                "aria-current": p.id === active ? "true" : null,
                "aria-label": `${p.message}: show the ${p.agents} agent${p.agents === 1 ? "" : "s"}`,
              },
              `${fmtInt(p.agents)} agent${p.agents === 1 ? "" : "s"}`,
            ),
            p.containers
              ? h("span", { class: "muted" }, ` · ${fmtInt(p.containers)} container${p.containers === 1 ? "" : "s"}`)
              : null,
          ),
        ),
      ),
    ),
    hidden > 0
      ? h("p", { class: "muted", id: "problems-more" }, `${fmtInt(hidden)} more kind${hidden === 1 ? "" : "s"} of problem, less widespread, not listed.`)
      : null,
  ];
}
