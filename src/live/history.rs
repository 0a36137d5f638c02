//! A bounded in-memory history of the executors' counters (lines, bytes,
//! dropped bytes, errors), per agent and for the whole cluster, so the GUI can
//! graph throughput and drops over the last hour.
//!
//! Live data, not events: it is rebuilt from reports after a restart or a
//! failover. Executors count from their own start, so a restarted executor
//! counts from zero again; the history keeps counters that only grow (each
//! report adds what changed since the previous one, a restart adds the new
//! executor's counts), from which rates follow as differences.
//!
//! Memory is capped: at most one point per `step` per series, no point older
//! than `window` behind the series' newest, and at most `max_agents` agents
//! (the one that reported longest ago is dropped first).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::messages::Totals;

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One point per series per this many milliseconds (the last report in
    /// the step wins).
    pub step_ms: u64,
    /// Points older than this behind a series' newest point are dropped.
    pub window_ms: u64,
    /// Agents with a history at most.
    pub max_agents: usize,
}

impl Default for Limits {
    /// An hour at the executors' report interval, for up to 10,000 agents.
    fn default() -> Self {
        Limits {
            step_ms: crate::events::messages::REPORT_EVERY.as_millis() as u64,
            window_ms: 3_600_000,
            max_agents: 10_000,
        }
    }
}

impl Limits {
    /// Points a series holds at most.
    pub fn points(&self) -> usize {
        (self.window_ms / self.step_ms.max(1)) as usize + 1
    }
}

/// Counters at one moment. `lines`, `bytes` and `dropped_bytes` only grow;
/// `errors` is how many errors the reports listed then (summed over the
/// agents for the cluster).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Point {
    at: u64,
    lines: u64,
    bytes: u64,
    dropped_bytes: u64,
    errors: u32,
}

/// One series: points in time order, at most one per step.
#[derive(Debug, Default)]
struct Series {
    points: VecDeque<Point>,
}

impl Series {
    fn record(&mut self, point: Point, limits: &Limits) {
        let step = limits.step_ms.max(1);
        match self.points.back_mut() {
            Some(last) if last.at / step == point.at / step => *last = point,
            _ => {
                if self.points.is_empty() {
                    self.points.reserve_exact(limits.points());
                }
                // Room first, so a full series never reallocates.
                while self.points.len() >= limits.points() {
                    self.points.pop_front();
                }
                self.points.push_back(point);
            }
        }
        let oldest = point.at.saturating_sub(limits.window_ms);
        while self.points.front().is_some_and(|p| p.at < oldest) {
            self.points.pop_front();
        }
    }

    fn newest(&self) -> Option<&Point> {
        self.points.back()
    }

    /// The points from `since` on and before `before`, each with its rates
    /// since the point before it (which may be older than `since`).
    fn rates(&self, since: u64, before: u64) -> Vec<RatePoint> {
        let mut out = Vec::new();
        let mut previous: Option<&Point> = None;
        for point in self.points.iter().take_while(|p| p.at < before) {
            if point.at >= since {
                out.push(RatePoint::between(previous, point));
            }
            previous = Some(point);
        }
        out
    }

    /// The newest point before `before`, with its rates.
    fn latest_rates(&self, before: u64) -> Option<RatePoint> {
        let i = self.points.iter().rposition(|p| p.at < before)?;
        Some(RatePoint::between(
            i.checked_sub(1).and_then(|j| self.points.get(j)),
            &self.points[i],
        ))
    }

    fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<Point>()
    }
}

/// The last report of an agent, to tell what changed with the next one.
#[derive(Debug)]
struct Last {
    executor_id: String,
    totals: Counters,
    errors: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    lines: u64,
    bytes: u64,
    dropped_bytes: u64,
}

impl From<&Totals> for Counters {
    fn from(t: &Totals) -> Self {
        Counters {
            lines: t.lines,
            bytes: t.bytes,
            dropped_bytes: t.dropped_bytes,
        }
    }
}

impl Counters {
    /// What `now` adds to `before`: a counter that went down belongs to a
    /// restarted executor, which counted `now` since its start.
    fn growth(before: Counters, now: Counters) -> Counters {
        let grow = |b: u64, n: u64| if n >= b { n - b } else { n };
        Counters {
            lines: grow(before.lines, now.lines),
            bytes: grow(before.bytes, now.bytes),
            dropped_bytes: grow(before.dropped_bytes, now.dropped_bytes),
        }
    }
}

#[derive(Debug)]
struct AgentHistory {
    last: Last,
    /// Counters that only grow, as the points store them.
    counted: Counters,
    series: Series,
}

/// The history of every agent and of the cluster.
#[derive(Debug, Default)]
pub struct History {
    limits: Limits,
    agents: BTreeMap<String, AgentHistory>,
    /// The cluster: what every report added, and the errors now listed.
    counted: Counters,
    errors: u64,
    total: Series,
}

/// One point of a series as the API serves it: the counters then, and the
/// rates since the point before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RatePoint {
    /// Unix milliseconds of the last report the point includes.
    pub at_ms: u64,
    /// Lines counted since the history began (they only grow).
    pub lines: u64,
    pub bytes: u64,
    pub dropped_bytes: u64,
    /// Errors the latest reports listed.
    pub errors: u32,
    /// Per second since the point before; null for the first point.
    pub lines_per_second: Option<f64>,
    pub bytes_per_second: Option<f64>,
    pub dropped_bytes_per_second: Option<f64>,
}

impl RatePoint {
    fn between(before: Option<&Point>, point: &Point) -> RatePoint {
        let span = before
            .map(|b| point.at.saturating_sub(b.at))
            .filter(|ms| *ms > 0);
        let rate = |now: u64, then: fn(&Point) -> u64| {
            let (b, ms) = (before?, span?);
            Some(now.saturating_sub(then(b)) as f64 * 1000.0 / ms as f64)
        };
        RatePoint {
            at_ms: point.at,
            lines: point.lines,
            bytes: point.bytes,
            dropped_bytes: point.dropped_bytes,
            errors: point.errors,
            lines_per_second: rate(point.lines, |p| p.lines),
            bytes_per_second: rate(point.bytes, |p| p.bytes),
            dropped_bytes_per_second: rate(point.dropped_bytes, |p| p.dropped_bytes),
        }
    }
}

impl History {
    pub fn new(limits: Limits) -> History {
        History {
            limits,
            ..History::default()
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds an executor's report received at `at` (unix ms).
    pub fn record(
        &mut self,
        agent_id: &str,
        executor_id: &str,
        at: u64,
        totals: &Totals,
        errors: usize,
    ) {
        let limits = self.limits;
        let now = Counters::from(totals);
        let errors = u32::try_from(errors).unwrap_or(u32::MAX);
        if !self.agents.contains_key(agent_id) {
            self.make_room();
        }
        let agent = self
            .agents
            .entry(agent_id.to_owned())
            .or_insert_with(|| AgentHistory {
                // The first report is the baseline: what came before it is
                // not this history's to count.
                last: Last {
                    executor_id: executor_id.to_owned(),
                    totals: now,
                    errors: 0,
                },
                counted: now,
                series: Series::default(),
            });
        let growth = if agent.last.executor_id == executor_id {
            Counters::growth(agent.last.totals, now)
        } else {
            // A new executor on the agent: everything it counted is new.
            now
        };
        let add = |a: &mut Counters| {
            a.lines = a.lines.saturating_add(growth.lines);
            a.bytes = a.bytes.saturating_add(growth.bytes);
            a.dropped_bytes = a.dropped_bytes.saturating_add(growth.dropped_bytes);
        };
        add(&mut agent.counted);
        add(&mut self.counted);
        self.errors = self
            .errors
            .saturating_sub(u64::from(agent.last.errors))
            .saturating_add(u64::from(errors));
        if agent.last.executor_id != executor_id {
            agent.last.executor_id = executor_id.to_owned();
        }
        agent.last.totals = now;
        agent.last.errors = errors;
        // A clock that went back does not reorder the series.
        let at = at.max(agent.series.newest().map_or(0, |p| p.at));
        agent.series.record(
            Point {
                at,
                lines: agent.counted.lines,
                bytes: agent.counted.bytes,
                dropped_bytes: agent.counted.dropped_bytes,
                errors,
            },
            &limits,
        );
        let at = at.max(self.total.newest().map_or(0, |p| p.at));
        self.total.record(
            Point {
                at,
                lines: self.counted.lines,
                bytes: self.counted.bytes,
                dropped_bytes: self.counted.dropped_bytes,
                errors: u32::try_from(self.errors).unwrap_or(u32::MAX),
            },
            &limits,
        );
    }

    /// Drops an agent's history (the agent left the cluster). What it
    /// shipped stays in the cluster's counters; its errors no longer count.
    pub fn forget(&mut self, agent_id: &str) {
        if let Some(agent) = self.agents.remove(agent_id) {
            self.errors = self.errors.saturating_sub(u64::from(agent.last.errors));
        }
    }

    fn make_room(&mut self) {
        while self.agents.len() >= self.limits.max_agents.max(1) {
            let stalest = self
                .agents
                .iter()
                .min_by_key(|(_, a)| a.series.newest().map_or(0, |p| p.at))
                .map(|(id, _)| id.clone());
            match stalest {
                Some(id) => self.forget(&id),
                None => return,
            }
        }
    }

    /// Where the step that holds `now` begins: points from then on may still
    /// change with the next report.
    fn settled_before(&self, now: u64) -> u64 {
        now - now % self.limits.step_ms.max(1)
    }

    /// The settled points of `agent` (the cluster for `None`) from
    /// `now - window` on, or `None` for an agent without history. The point
    /// of the step still under way is left out: it changes with every report
    /// until its step ends, and a poll of an unchanged history should find it
    /// unchanged.
    pub fn series(&self, agent: Option<&str>, window_ms: u64, now: u64) -> Option<Vec<RatePoint>> {
        let series = match agent {
            Some(id) => &self.agents.get(id)?.series,
            None => &self.total,
        };
        Some(series.rates(now.saturating_sub(window_ms), self.settled_before(now)))
    }

    /// The newest settled point of `agent` (the cluster for `None`).
    pub fn latest(&self, agent: Option<&str>, now: u64) -> Option<RatePoint> {
        let before = self.settled_before(now);
        match agent {
            Some(id) => self.agents.get(id)?.series.latest_rates(before),
            None => self.total.latest_rates(before),
        }
    }

    /// The newest point of every agent, settled or not: its rates since the
    /// report before.
    pub fn latest_by_agent(&self) -> BTreeMap<String, RatePoint> {
        self.agents
            .iter()
            .filter_map(|(id, a)| Some((id.clone(), a.series.latest_rates(u64::MAX)?)))
            .collect()
    }

    /// Bytes the history holds on the heap for its points, keys and per-agent
    /// records (the allocator's own overhead and the map's nodes aside).
    pub fn heap_bytes(&self) -> usize {
        let per_agent: usize = self
            .agents
            .iter()
            .map(|(id, a)| {
                id.capacity()
                    + a.last.executor_id.capacity()
                    + std::mem::size_of::<(String, AgentHistory)>()
                    + a.series.heap_bytes()
            })
            .sum();
        per_agent + self.total.heap_bytes()
    }

    pub fn agents(&self) -> usize {
        self.agents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;
    /// A step later: what the series showed settles.
    const STEP: u64 = 30 * S;

    fn totals(lines: u64, bytes: u64, dropped: u64) -> Totals {
        Totals {
            lines,
            bytes,
            dropped_bytes: dropped,
            ..Totals::default()
        }
    }

    fn limits() -> Limits {
        Limits {
            step_ms: 30 * S,
            window_ms: 3600 * S,
            max_agents: 100,
        }
    }

    #[test]
    fn rates_follow_the_counters_between_reports() {
        let mut h = History::new(limits());
        h.record("a", "e1", 1_000 * S, &totals(100, 1000, 0), 0);
        h.record("a", "e1", 1_030 * S, &totals(400, 4000, 60), 2);
        let points = h.series(Some("a"), 3600 * S, 1_030 * S + STEP).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].lines_per_second, None, "no rate from one report");
        assert_eq!(points[1].lines_per_second, Some(10.0));
        assert_eq!(points[1].bytes_per_second, Some(100.0));
        assert_eq!(points[1].dropped_bytes_per_second, Some(2.0));
        assert_eq!(points[1].errors, 2);
        assert_eq!(
            points[1].lines, 400,
            "an agent's points start at its counts"
        );
        let cluster = h.latest(None, u64::MAX).unwrap();
        assert_eq!(cluster.lines_per_second, Some(10.0));
        assert_eq!(
            cluster.lines, 300,
            "the cluster counts from the first report"
        );
        assert_eq!(cluster.errors, 2);
    }

    #[test]
    fn a_restarted_executor_counts_again_without_a_negative_rate() {
        let mut h = History::new(limits());
        h.record("a", "e1", 1_000 * S, &totals(1000, 0, 0), 0);
        h.record("a", "e1", 1_030 * S, &totals(1300, 0, 0), 0);
        // Same executor id, counters back at a low value: it restarted.
        h.record("a", "e1", 1_060 * S, &totals(60, 0, 0), 0);
        // A new executor on the agent, counting from its start.
        h.record("a", "e2", 1_090 * S, &totals(90, 0, 0), 0);
        let points = h.series(Some("a"), 3600 * S, 1_090 * S + STEP).unwrap();
        let rates: Vec<_> = points.iter().map(|p| p.lines_per_second).collect();
        assert_eq!(rates, [None, Some(10.0), Some(2.0), Some(3.0)]);
        let lines: Vec<_> = points.iter().map(|p| p.lines).collect();
        assert_eq!(lines, [1000, 1300, 1360, 1450], "counters only grow");
    }

    #[test]
    fn one_point_per_step_the_last_report_wins() {
        let mut h = History::new(limits());
        h.record("a", "e", 1_000 * S, &totals(0, 0, 0), 0);
        h.record("a", "e", 1_005 * S, &totals(50, 0, 0), 0);
        h.record("a", "e", 1_010 * S, &totals(100, 0, 0), 1);
        h.record("a", "e", 1_050 * S, &totals(500, 0, 0), 0);
        let points = h.series(Some("a"), 3600 * S, 1_050 * S + STEP).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].at_ms, 1_010 * S);
        assert_eq!(points[0].lines, 100);
        assert_eq!(points[0].errors, 1);
        assert_eq!(points[1].lines_per_second, Some(10.0));
    }

    #[test]
    fn the_window_and_the_point_count_bound_each_series() {
        let limits = limits();
        let mut h = History::new(limits);
        for i in 0..1000u64 {
            h.record("a", "e", (10_000 + i * 30) * S, &totals(i * 30, 0, 0), 0);
        }
        let newest = (10_000 + 999 * 30) * S;
        let all = h.series(Some("a"), u64::MAX, newest + STEP).unwrap();
        assert_eq!(all.len(), limits.points());
        assert!(all[0].at_ms >= newest - limits.window_ms);
        assert!(all[1..].iter().all(|p| p.lines_per_second == Some(1.0)));
        let last_ten_minutes = h.series(Some("a"), 600 * S, newest + STEP).unwrap();
        assert_eq!(last_ten_minutes.len(), 20);
        assert_eq!(
            last_ten_minutes[0].lines_per_second,
            Some(1.0),
            "the first point in the window has its rate from the one before"
        );
        let bytes = h.heap_bytes();
        for i in 1000..2000u64 {
            h.record("a", "e", (10_000 + i * 30) * S, &totals(i * 30, 0, 0), 0);
        }
        assert_eq!(h.heap_bytes(), bytes, "a full series no longer grows");
    }

    #[test]
    fn agents_are_capped_the_stalest_goes_first() {
        let mut h = History::new(Limits {
            max_agents: 3,
            ..limits()
        });
        for (i, agent) in ["a", "b", "c"].iter().enumerate() {
            h.record(agent, "e", (1_000 + i as u64) * S, &totals(0, 0, 0), 1);
        }
        h.record("a", "e", 1_100 * S, &totals(0, 0, 0), 1);
        h.record("d", "e", 1_101 * S, &totals(0, 0, 0), 1);
        assert_eq!(h.agents(), 3);
        assert!(h.series(Some("b"), 3600 * S, 1_101 * S).is_none());
        assert!(h.series(Some("a"), 3600 * S, 1_101 * S + STEP).is_some());
        assert_eq!(
            h.latest(None, u64::MAX).unwrap().errors,
            3,
            "b's errors left with it"
        );
    }

    #[test]
    fn the_cluster_adds_the_agents_and_keeps_what_a_removed_one_shipped() {
        let mut h = History::new(limits());
        h.record("a", "e", 1_000 * S, &totals(10, 0, 0), 0);
        h.record("b", "e", 1_001 * S, &totals(20, 0, 0), 4);
        h.record("a", "e", 1_030 * S, &totals(310, 0, 0), 0);
        h.record("b", "e", 1_031 * S, &totals(620, 0, 0), 4);
        let cluster = h.latest(None, u64::MAX).unwrap();
        assert_eq!(cluster.lines, 900);
        assert_eq!(cluster.lines_per_second, Some(30.0));
        assert_eq!(cluster.errors, 4);
        h.forget("b");
        h.record("a", "e", 1_060 * S, &totals(610, 0, 0), 0);
        let cluster = h.latest(None, u64::MAX).unwrap();
        assert_eq!(cluster.lines, 1200);
        assert_eq!(cluster.errors, 0);
        assert_eq!(h.latest_by_agent().len(), 1);
    }

    #[test]
    fn the_step_under_way_shows_once_it_ends() {
        let mut h = History::new(limits());
        h.record("a", "e", 1_000 * S, &totals(0, 0, 0), 0);
        h.record("a", "e", 1_030 * S, &totals(300, 0, 0), 0);
        // 1_030 s is in the step of [1_020 s, 1_050 s).
        let during = h.series(Some("a"), 3600 * S, 1_049 * S).unwrap();
        assert_eq!(during.len(), 1);
        assert_eq!(h.latest(Some("a"), 1_049 * S).unwrap().at_ms, 1_000 * S);
        h.record("a", "e", 1_045 * S, &totals(450, 0, 0), 0);
        let after = h.series(Some("a"), 3600 * S, 1_050 * S).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after[1].at_ms, 1_045 * S);
        assert_eq!(after[1].lines_per_second, Some(10.0));
        assert_eq!(h.latest(None, 1_050 * S), Some(after[1].clone()));
        assert_eq!(
            h.latest_by_agent()["a"].at_ms,
            1_045 * S,
            "the table shows the newest report at once"
        );
    }

    #[test]
    fn a_clock_going_back_does_not_reorder_points() {
        let mut h = History::new(limits());
        h.record("a", "e", 1_060 * S, &totals(10, 0, 0), 0);
        h.record("a", "e", 1_000 * S, &totals(20, 0, 0), 0);
        let points = h.series(Some("a"), 3600 * S, 1_060 * S + STEP).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].lines, 20);
    }
}
