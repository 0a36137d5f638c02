//! Folding a source's events into projections.

use logstash_mesos::events::Envelope;
use logstash_mesos::state::State;

use crate::progress::Progress;
use crate::source::{Source, SourceError};

/// Folds the events after `state.last_seq` up to `until` into `state`,
/// calling `each` with every event and the projections just after it.
/// Without `audit` the audit index is left out, so memory stays bounded by
/// the projections however long the log is.
pub fn advance(
    state: &mut State,
    source: &Source,
    until: u64,
    audit: bool,
    progress: &mut Progress,
    mut each: impl FnMut(&State, &Envelope),
) -> Result<(), SourceError> {
    for env in source.events(state.last_seq + 1, until) {
        let env = env?;
        if audit {
            state.apply(&env);
        } else {
            state.apply_projections(&env);
        }
        each(state, &env);
        progress.inc();
    }
    Ok(())
}
