//! Offer decisions: which agent gets an executor, which offers go back, and
//! when to stop or resume receiving offers. Pure functions of the offers, the
//! projections and the settings; the driver executes what they return.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::State;

use super::constraints::Constraint;

/// What the decisions need to know about an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub id: String,
    pub agent_id: String,
    pub hostname: String,
    pub resources: Vec<Resource>,
    /// Agent attributes, values rendered as text.
    pub attributes: Vec<(String, String)>,
    /// Our executors still running on the agent.
    pub executor_ids: Vec<String>,
}

/// One resource entry of an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub name: String,
    /// The role the entry is reserved for, `None` when unreserved.
    pub reserved_for: Option<String>,
    /// The role the entry is allocated to, when the master says (MULTI_ROLE).
    pub allocated_to: Option<String>,
    pub scalar: Option<f64>,
    pub revocable: bool,
    /// `[begin, end]` ranges of a ranges resource (`ports`).
    pub ranges: Vec<(u64, u64)>,
}

/// The executor's resource needs and placement rules.
#[derive(Debug, Clone)]
pub struct Requirements {
    pub role: String,
    pub cpus: f64,
    pub mem_mib: f64,
    pub disk_mib: f64,
    pub constraints: Vec<Constraint>,
    /// Ports the configs listen on: the offer must hold all of them.
    pub ports: Vec<u16>,
}

/// How long a declined agent's resources stay away, by reason.
pub const REFUSE_COVERED_SECS: f64 = 3600.0;
pub const REFUSE_UNFIT_SECS: f64 = 3600.0;
pub const REFUSE_SHORT_OF_RESOURCES_SECS: f64 = 60.0;
pub const REFUSE_EXECUTOR_EXITING_SECS: f64 = 5.0;

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Launch {
        offer_id: String,
        agent_id: String,
        hostname: String,
    },
    Decline {
        offer_id: String,
        refuse_seconds: f64,
        reason: DeclineReason,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeclineReason {
    /// Our executor runs or is starting there.
    Covered,
    /// A previous executor of ours is still exiting there.
    ExecutorExiting,
    /// Another offer in the same batch launches there.
    LaunchingFromOtherOffer,
    /// The agent fails a constraint.
    Constraint(String),
    /// Not enough of a resource (name, needed, offered).
    ShortOf(String, f64, f64),
    /// The agent does not offer these ports the configs listen on.
    PortsUnavailable(Vec<u16>),
}

/// Decides every offer of a batch. Launches are recorded in the log before
/// they are sent, so the projection knows every executor that may exist.
pub fn decide(offers: &[Offer], state: &State, needs: &Requirements) -> Vec<Decision> {
    let mut launched_now: BTreeSet<&str> = BTreeSet::new();
    offers
        .iter()
        .map(|offer| {
            let decline = |refuse_seconds, reason| Decision::Decline {
                offer_id: offer.id.clone(),
                refuse_seconds,
                reason,
            };
            if state.cluster.tasks_on(&offer.agent_id).next().is_some() {
                return decline(REFUSE_COVERED_SECS, DeclineReason::Covered);
            }
            if launched_now.contains(offer.agent_id.as_str()) {
                return decline(REFUSE_COVERED_SECS, DeclineReason::LaunchingFromOtherOffer);
            }
            if !offer.executor_ids.is_empty() {
                return decline(REFUSE_EXECUTOR_EXITING_SECS, DeclineReason::ExecutorExiting);
            }
            if let Some(c) = needs
                .constraints
                .iter()
                .find(|c| !c.admits(&offer.hostname, &offer.attributes))
            {
                return decline(REFUSE_UNFIT_SECS, DeclineReason::Constraint(c.to_string()));
            }
            for (name, needed) in [
                ("cpus", needs.cpus),
                ("mem", needs.mem_mib),
                ("disk", needs.disk_mib),
            ] {
                let offered = usable_scalar(&offer.resources, name, &needs.role);
                if needed > 0.0 && offered + 1e-9 < needed {
                    return decline(
                        REFUSE_SHORT_OF_RESOURCES_SECS,
                        DeclineReason::ShortOf(name.into(), needed, offered),
                    );
                }
            }
            let missing = super::ports::missing(&offer.resources, &needs.ports, &needs.role);
            if !missing.is_empty() {
                return decline(
                    REFUSE_SHORT_OF_RESOURCES_SECS,
                    DeclineReason::PortsUnavailable(missing),
                );
            }
            launched_now.insert(&offer.agent_id);
            Decision::Launch {
                offer_id: offer.id.clone(),
                agent_id: offer.agent_id.clone(),
                hostname: offer.hostname.clone(),
            }
        })
        .collect()
}

/// Whether an entry may be used by a framework in `role`: not revocable,
/// unreserved or reserved for the role, and allocated to the role if the
/// master says where it is allocated.
pub fn usable_by(resource: &Resource, role: &str) -> bool {
    !resource.revocable
        && resource.reserved_for.as_deref().is_none_or(|r| r == role)
        && resource.allocated_to.as_deref().is_none_or(|r| r == role)
}

/// The sum of a scalar resource over every entry usable by `role`.
pub fn usable_scalar(resources: &[Resource], name: &str, role: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name && usable_by(r, role))
        .filter_map(|r| r.scalar)
        .fold(0.0, |sum, x| sum + x)
}

/// What the driver remembers about agents it has seen offers from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenAgent {
    /// False when the agent fails a constraint: it never needs an executor.
    pub eligible: bool,
}

/// SUPPRESS once every agent we know of runs our executor or is not eligible;
/// offers are only needed again (REVIVE) when that stops being true.
pub fn all_covered(state: &State, seen: &BTreeMap<String, SeenAgent>) -> bool {
    let covered = |agent: &str| state.cluster.tasks_on(agent).next().is_some();
    !seen.is_empty()
        && seen.iter().all(|(agent, s)| !s.eligible || covered(agent))
        && state
            .cluster
            .agents
            .keys()
            .all(|a| covered(a) || seen.get(a).is_some_and(|s| !s.eligible))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Actor, Command, Proposal, TaskState};

    fn resource(name: &str, amount: f64) -> Resource {
        Resource {
            name: name.into(),
            reserved_for: None,
            allocated_to: None,
            scalar: Some(amount),
            revocable: false,
            ranges: vec![],
        }
    }

    fn offer(id: &str, agent: &str, resources: Vec<Resource>) -> Offer {
        Offer {
            id: id.into(),
            agent_id: agent.into(),
            hostname: format!("{agent}.example"),
            resources,
            attributes: vec![],
            executor_ids: vec![],
        }
    }

    fn plenty(id: &str, agent: &str) -> Offer {
        offer(
            id,
            agent,
            vec![
                resource("cpus", 4.0),
                resource("mem", 4096.0),
                resource("disk", 1000.0),
            ],
        )
    }

    fn needs() -> Requirements {
        Requirements {
            role: "logging".into(),
            cpus: 0.2,
            mem_mib: 256.0,
            disk_mib: 0.0,
            constraints: vec![],
            ports: vec![],
        }
    }

    fn state_with(commands: Vec<Command>) -> State {
        let mut state = State::default();
        for command in commands {
            let proposal = Proposal {
                at: 1,
                actor: Actor::Replica(1),
                command,
            };
            for env in state.envelopes(&proposal).unwrap() {
                state.apply(&env);
            }
        }
        state
    }

    fn launched(agent: &str, task: &str) -> Command {
        Command::RecordExecutorLaunched {
            agent_id: agent.into(),
            hostname: format!("{agent}.example"),
            task_id: task.into(),
            executor_id: format!("e-{task}"),
            fingerprint: "fp".into(),
        }
    }

    fn status(agent: &str, task: &str, state: TaskState) -> Command {
        Command::RecordTaskStatus {
            task_id: task.into(),
            agent_id: agent.into(),
            state,
            reason: None,
            message: None,
            source: None,
        }
    }

    fn kinds(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .map(|d| match d {
                Decision::Launch { agent_id, .. } => format!("launch {agent_id}"),
                Decision::Decline { reason, .. } => format!("decline {reason:?}"),
            })
            .collect()
    }

    #[test]
    fn launches_once_per_agent_without_an_executor() {
        let state = state_with(vec![launched("a1", "t1")]);
        let offers = [plenty("o1", "a1"), plenty("o2", "a2"), plenty("o3", "a2")];
        assert_eq!(
            kinds(&decide(&offers, &state, &needs())),
            [
                "decline Covered",
                "launch a2",
                "decline LaunchingFromOtherOffer"
            ]
        );
    }

    #[test]
    fn a_terminal_task_frees_the_agent() {
        let state = state_with(vec![
            launched("a1", "t1"),
            status("a1", "t1", TaskState::Failed),
        ]);
        assert_eq!(
            kinds(&decide(&[plenty("o", "a1")], &state, &needs())),
            ["launch a1"]
        );
        let running = state_with(vec![
            launched("a1", "t1"),
            status("a1", "t1", TaskState::Running),
        ]);
        assert_eq!(
            kinds(&decide(&[plenty("o", "a1")], &running, &needs())),
            ["decline Covered"]
        );
    }

    #[test]
    fn resources_are_summed_over_entries_the_role_may_use() {
        let split = |extra: Resource| {
            offer(
                "o",
                "a",
                vec![
                    resource("cpus", 0.1),
                    resource("cpus", 0.1),
                    resource("mem", 128.0),
                    resource("mem", 128.0),
                    extra,
                ],
            )
        };
        let decide_one = |o: Offer| kinds(&decide(&[o], &State::default(), &needs()));
        assert_eq!(decide_one(split(resource("disk", 1.0))), ["launch a"]);

        let reserved_elsewhere = Resource {
            reserved_for: Some("other".into()),
            ..resource("mem", 1000.0)
        };
        let short = offer(
            "o",
            "a",
            vec![
                resource("cpus", 1.0),
                resource("mem", 100.0),
                reserved_elsewhere,
            ],
        );
        assert_eq!(
            decide_one(short),
            ["decline ShortOf(\"mem\", 256.0, 100.0)"]
        );

        let reserved_for_us = Resource {
            reserved_for: Some("logging".into()),
            ..resource("cpus", 0.5)
        };
        let revocable = Resource {
            revocable: true,
            ..resource("cpus", 8.0)
        };
        let o = offer("o", "a", vec![revocable.clone(), resource("mem", 512.0)]);
        assert_eq!(decide_one(o), ["decline ShortOf(\"cpus\", 0.2, 0.0)"]);
        let o = offer(
            "o",
            "a",
            vec![reserved_for_us, revocable, resource("mem", 512.0)],
        );
        assert_eq!(decide_one(o), ["launch a"]);
        let elsewhere = Resource {
            allocated_to: Some("other".into()),
            ..resource("cpus", 2.0)
        };
        let o = offer("o", "a", vec![elsewhere, resource("mem", 512.0)]);
        assert_eq!(decide_one(o), ["decline ShortOf(\"cpus\", 0.2, 0.0)"]);
    }

    #[test]
    fn constraints_and_exiting_executors_decline() {
        let mut needs = needs();
        needs.constraints = vec!["hostname:LIKE:a[13]\\..*".parse().unwrap()];
        let mut exiting = plenty("o3", "a3");
        exiting.executor_ids = vec!["old".into()];
        let decisions = decide(
            &[plenty("o1", "a1"), plenty("o2", "a2"), exiting],
            &State::default(),
            &needs,
        );
        assert_eq!(
            kinds(&decisions),
            [
                "launch a1",
                "decline Constraint(\"hostname:LIKE:a[13]\\\\..*\")",
                "decline ExecutorExiting"
            ]
        );
        match &decisions[1] {
            Decision::Decline { refuse_seconds, .. } => {
                assert_eq!(*refuse_seconds, REFUSE_UNFIT_SECS)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn suppress_when_every_known_agent_is_covered() {
        let state = state_with(vec![launched("a1", "t1"), launched("a2", "t2")]);
        let seen = |pairs: &[(&str, bool)]| -> BTreeMap<String, SeenAgent> {
            pairs
                .iter()
                .map(|(a, e)| (a.to_string(), SeenAgent { eligible: *e }))
                .collect()
        };
        assert!(all_covered(&state, &seen(&[("a1", true), ("a2", true)])));
        assert!(all_covered(
            &state,
            &seen(&[("a1", true), ("a2", true), ("a3", false)])
        ));
        assert!(!all_covered(&state, &seen(&[("a1", true), ("a3", true)])));
        assert!(!all_covered(&State::default(), &seen(&[])));
        let one_ended = state_with(vec![
            launched("a1", "t1"),
            launched("a2", "t2"),
            status("a2", "t2", TaskState::Killed),
        ]);
        assert!(!all_covered(&one_ended, &seen(&[("a1", true)])));
    }
}
