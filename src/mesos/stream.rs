//! Typed event streams: RecordIO records decoded as protobuf events.

use std::marker::PhantomData;

use bytes::Bytes;
use futures::StreamExt;

use super::http::RecordStream;
use super::recordio::RecordIoError;

/// Why an event stream broke. Either way the stream is unusable: close it
/// and subscribe again.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The byte stream was not valid RecordIO (or the transport failed).
    #[error("event stream framing: {0}")]
    Framing(#[from] RecordIoError),
    /// A record was not a valid protobuf event.
    #[error("undecodable event: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// The events of one subscription, in arrival order.
pub struct EventStream<E> {
    records: RecordStream,
    _event: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for EventStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl<E: prost::Message + Default> EventStream<E> {
    pub(crate) fn new(records: RecordStream) -> Self {
        Self {
            records,
            _event: PhantomData,
        }
    }

    /// The next event together with the exact bytes it was decoded from
    /// (kept so callers can echo or inspect what the master really sent).
    /// `Ok(None)` means the server closed the stream cleanly.
    pub async fn next_record(&mut self) -> Result<Option<(Bytes, E)>, StreamError> {
        match self.records.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(raw)) => {
                let event = E::decode(raw.clone())?;
                Ok(Some((raw, event)))
            }
        }
    }

    /// The next event; `Ok(None)` means the server closed the stream.
    pub async fn next_event(&mut self) -> Result<Option<E>, StreamError> {
        Ok(self.next_record().await?.map(|(_, e)| e))
    }
}
