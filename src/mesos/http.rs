//! HTTP plumbing shared by the scheduler and executor clients.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use super::recordio::RecordIoCodec;

/// The only request and stream media type the clients speak. Mesos compares
/// the whole header, so no parameters (`; charset=...`) may be added.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// The header that ties scheduler calls to their subscription.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// Error bodies are short plain text; anything longer is cut.
const MAX_ERROR_BODY: usize = 1024;

pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The RecordIO records of a streaming response body.
pub(crate) type RecordStream = FramedRead<StreamReader<ByteStream, Bytes>, RecordIoCodec>;

pub(crate) fn record_stream(response: reqwest::Response, max_record_size: usize) -> RecordStream {
    let bytes: ByteStream = Box::pin(response.bytes_stream().map_err(std::io::Error::other));
    FramedRead::new(
        StreamReader::new(bytes),
        RecordIoCodec::new(max_record_size),
    )
}

/// The start of an error response's body, for error messages. Bounded in
/// time and size, since it comes from the network.
pub(crate) async fn error_body(response: reqwest::Response, timeout: Duration) -> String {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).trim().to_owned()
}

/// The TLS failure behind a request error (an untrusted or expired
/// certificate, a wrong host name, a peer that does not speak TLS), if that
/// is what failed.
pub(crate) fn tls_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An io::Error's source() skips the error it wraps; the TLS error
        // sits inside one or more of them.
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Whether a response's `Content-Type` is protobuf. A missing header is
/// accepted; a JSON stream (what Mesos picks when `Accept` is lost on the
/// way) is not.
pub(crate) fn is_protobuf(response: &reqwest::Response) -> bool {
    match response.headers().get(reqwest::header::CONTENT_TYPE) {
        None => true,
        Some(v) => v
            .to_str()
            .map(|s| s.trim().starts_with(CONTENT_TYPE_PROTOBUF))
            .unwrap_or(false),
    }
}
