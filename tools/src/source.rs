//! Where the events come from: a stopped replica's data directory, or a
//! running replica's API. Both give the same history in the same order.

use std::path::Path;

use logstash_mesos::events::Envelope;
use logstash_mesos::events::time::{Point, parse_rfc3339};
use logstash_mesos::journal::JournalError;
use logstash_mesos::journal::offline::DataDir;

use crate::api::{ApiClient, ApiError};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0:?} is neither a seq nor an RFC 3339 time")]
    BadPoint(String),
    #[error("seq {seq} is beyond the last event ({last})")]
    BeyondEnd { seq: u64, last: u64 },
}

pub enum Source {
    DataDir(DataDir),
    Api(ApiClient),
}

impl Source {
    pub fn data_dir(dir: &Path) -> Result<Source, SourceError> {
        Ok(Source::DataDir(DataDir::open(dir)?))
    }

    pub fn last_seq(&self) -> Result<u64, SourceError> {
        match self {
            Source::DataDir(d) => Ok(d.last_seq()),
            Source::Api(a) => Ok(a.last_seq()?),
        }
    }

    /// Events with `from <= seq <= to`, oldest first; an error ends the iteration.
    pub fn events(
        &self,
        from: u64,
        to: u64,
    ) -> Box<dyn Iterator<Item = Result<Envelope, SourceError>> + '_> {
        match self {
            Source::DataDir(d) => Box::new(d.events(from, to).map(|e| e.map_err(Into::into))),
            Source::Api(a) => Box::new(a.events(from, to).map(|e| e.map_err(Into::into))),
        }
    }

    /// Turns a seq or an RFC 3339 time into a seq: a time names the last
    /// event at or before it.
    pub fn resolve(&self, point: &str) -> Result<u64, SourceError> {
        let last = self.last_seq()?;
        match Point::parse(point) {
            Some(Point::Seq(seq)) if seq <= last => Ok(seq),
            Some(Point::Seq(seq)) => Err(SourceError::BeyondEnd { seq, last }),
            Some(Point::Time(ms)) => self.seq_at_time(ms),
            None => Err(SourceError::BadPoint(point.to_owned())),
        }
    }

    /// The seq of the last event at or before `time_ms` (0 if none).
    pub fn seq_at_time(&self, time_ms: u64) -> Result<u64, SourceError> {
        match self {
            Source::DataDir(d) => Ok(d.seq_at_time(time_ms)?),
            Source::Api(a) => Ok(a.seq_at_time(time_ms)?),
        }
    }

    /// Bytes on disk, when the source is a data directory.
    pub fn size_on_disk(&self) -> Option<u64> {
        match self {
            Source::DataDir(d) => Some(d.size_on_disk()),
            Source::Api(_) => None,
        }
    }
}

/// Parses an RFC 3339 time given on the command line.
pub fn time_arg(s: &str) -> Result<u64, String> {
    parse_rfc3339(s).ok_or_else(|| format!("{s:?} is not an RFC 3339 time"))
}
