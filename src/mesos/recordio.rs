//! RecordIO framing: `<decimal length>\n<payload>`, repeated, with nothing
//! between records.
//!
//! Mesos event streams are chunked HTTP bodies whose chunk boundaries have
//! nothing to do with record boundaries (and proxies may re-chunk), so the
//! decoder is a buffered state machine that gives the same records for any
//! split of the byte stream. Everything it reads comes from the network, so
//! every malformed input is an error value, never a panic, and memory is
//! bounded by a record-size cap and a cap on the length line.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The default cap on one record. OFFERS events on a large cluster can run
/// to megabytes (mesos-go's 4 MiB default has been hit in practice), so the
/// default is generous; it only exists to bound memory.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 16 * 1024 * 1024;

/// A `u64` has at most 20 decimal digits; a longer length line is garbage
/// (and would otherwise let a peer grow the buffer without bound).
pub const MAX_LENGTH_DIGITS: usize = 20;

/// Why a stream could not be framed. Callers treat every variant as "this
/// stream is broken": close it and reconnect.
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    /// A byte other than an ASCII digit appeared in a length line.
    #[error("invalid byte {byte:#04x} in a RecordIO length line")]
    InvalidLength {
        /// The offending byte.
        byte: u8,
    },
    /// The length line went on past [`MAX_LENGTH_DIGITS`] digits.
    #[error("RecordIO length line longer than {MAX_LENGTH_DIGITS} digits")]
    LengthLineTooLong,
    /// A record announced a length of 0, which the format forbids.
    #[error("zero-length RecordIO record")]
    ZeroLength,
    /// A record announced more bytes than the configured cap.
    #[error("RecordIO record of {len} bytes exceeds the cap of {max} bytes")]
    TooLarge {
        /// The announced length (saturated at `u64::MAX` if it overflowed).
        len: u64,
        /// The configured cap.
        max: usize,
    },
    /// The stream ended inside a length line or a payload.
    #[error("stream ended in the middle of a RecordIO record ({buffered} bytes buffered)")]
    UnexpectedEof {
        /// How many bytes of the unfinished record had arrived.
        buffered: usize,
    },
    /// An empty payload cannot be encoded (its length would be 0).
    #[error("cannot encode an empty RecordIO record")]
    EmptyRecord,
    /// The underlying transport failed.
    #[error("i/o error under RecordIO: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (more of) a length line.
    Length,
    /// Waiting for a payload of this many bytes.
    Payload(usize),
}

/// A tokio-util codec for RecordIO streams (decoding) and bodies (encoding).
#[derive(Debug, Clone)]
pub struct RecordIoCodec {
    max_record_size: usize,
    state: State,
}

impl Default for RecordIoCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_SIZE)
    }
}

impl RecordIoCodec {
    /// A codec that refuses records larger than `max_record_size` bytes.
    pub fn new(max_record_size: usize) -> Self {
        Self {
            max_record_size,
            state: State::Length,
        }
    }

    /// The configured cap.
    pub fn max_record_size(&self) -> usize {
        self.max_record_size
    }
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Decoder for RecordIoCodec {
    type Item = Bytes;
    type Error = RecordIoError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        loop {
            match self.state {
                State::Length => {
                    // Leniency: stray whitespace or empty lines before a
                    // length are skipped (Mesos' own reference reader does).
                    let blanks = buf.iter().take_while(|b| is_blank(**b)).count();
                    buf.advance(blanks);
                    let mut len: u64 = 0;
                    let mut overflow = false;
                    let mut newline_at = None;
                    for (i, &b) in buf.iter().enumerate() {
                        if b == b'\n' {
                            newline_at = Some(i);
                            break;
                        }
                        if !b.is_ascii_digit() {
                            return Err(RecordIoError::InvalidLength { byte: b });
                        }
                        if i >= MAX_LENGTH_DIGITS {
                            return Err(RecordIoError::LengthLineTooLong);
                        }
                        match len
                            .checked_mul(10)
                            .and_then(|v| v.checked_add(u64::from(b - b'0')))
                        {
                            Some(v) => len = v,
                            None => overflow = true,
                        }
                    }
                    let Some(newline_at) = newline_at else {
                        // Only digits so far: wait for the rest of the line.
                        return Ok(None);
                    };
                    if overflow {
                        return Err(RecordIoError::TooLarge {
                            len: u64::MAX,
                            max: self.max_record_size,
                        });
                    }
                    if len == 0 {
                        return Err(RecordIoError::ZeroLength);
                    }
                    let size = match usize::try_from(len) {
                        Ok(size) if size <= self.max_record_size => size,
                        _ => {
                            return Err(RecordIoError::TooLarge {
                                len,
                                max: self.max_record_size,
                            });
                        }
                    };
                    buf.advance(newline_at + 1);
                    self.state = State::Payload(size);
                }
                State::Payload(size) => {
                    if buf.len() < size {
                        // The cap bounds this reservation.
                        buf.reserve(size - buf.len());
                        return Ok(None);
                    }
                    self.state = State::Length;
                    return Ok(Some(buf.split_to(size).freeze()));
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        if let Some(record) = self.decode(buf)? {
            return Ok(Some(record));
        }
        let trailing_blank = buf.iter().all(|b| is_blank(*b));
        match self.state {
            State::Length if trailing_blank => {
                buf.clear();
                Ok(None)
            }
            _ => Err(RecordIoError::UnexpectedEof {
                buffered: buf.len(),
            }),
        }
    }
}

impl Encoder<&[u8]> for RecordIoCodec {
    type Error = RecordIoError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), RecordIoError> {
        if item.is_empty() {
            return Err(RecordIoError::EmptyRecord);
        }
        if item.len() > self.max_record_size {
            return Err(RecordIoError::TooLarge {
                len: item.len() as u64,
                max: self.max_record_size,
            });
        }
        let header = format!("{}\n", item.len());
        dst.reserve(header.len() + item.len());
        dst.put_slice(header.as_bytes());
        dst.put_slice(item);
        Ok(())
    }
}

impl Encoder<Bytes> for RecordIoCodec {
    type Error = RecordIoError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), RecordIoError> {
        Encoder::<&[u8]>::encode(self, &item, dst)
    }
}

/// Frames one payload as a RecordIO record; handy for tests and fakes.
pub fn encode_record(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `input` to a fresh codec in the given pieces, then signals EOF.
    fn decode_pieces(
        codec: &mut RecordIoCodec,
        pieces: &[&[u8]],
    ) -> Result<Vec<Bytes>, RecordIoError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            while let Some(r) = codec.decode(&mut buf)? {
                out.push(r);
            }
        }
        while let Some(r) = codec.decode_eof(&mut buf)? {
            out.push(r);
        }
        Ok(out)
    }

    fn decode_all(input: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
        decode_pieces(&mut RecordIoCodec::default(), &[input])
    }

    #[test]
    fn decodes_heartbeat_test_vector() {
        // §7 of the API notes: Event{type: HEARTBEAT} framed.
        let out = decode_all(&[0x32, 0x0a, 0x08, 0x08]).unwrap();
        assert_eq!(out, vec![Bytes::from_static(&[0x08, 0x08])]);
    }

    #[test]
    fn decodes_several_records_in_one_chunk() {
        let out = decode_all(b"3\nabc5\nhello1\nx").unwrap();
        assert_eq!(out, vec!["abc", "hello", "x"]);
    }

    #[test]
    fn byte_at_a_time_gives_the_same_records() {
        let input = b"3\nabc5\nhello12\n0123456789ab";
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        let out = decode_pieces(&mut RecordIoCodec::default(), &pieces).unwrap();
        assert_eq!(out, vec!["abc", "hello", "0123456789ab"]);
    }

    #[test]
    fn tolerates_leading_whitespace_and_empty_lines() {
        let out = decode_all(b"\n\n  \r\n3\nabc\n\n2\nhi\n").unwrap();
        assert_eq!(out, vec!["abc", "hi"]);
    }

    #[test]
    fn payload_may_contain_newlines_and_digits() {
        let out = decode_all(b"4\n1\n2\n").unwrap();
        assert_eq!(out, vec!["1\n2\n"]);
    }

    #[test]
    fn empty_stream_is_fine() {
        assert!(decode_all(b"").unwrap().is_empty());
        assert!(decode_all(b"\n \n").unwrap().is_empty());
    }

    #[test]
    fn garbage_in_length_is_an_error() {
        match decode_all(b"xyz\nabc") {
            Err(RecordIoError::InvalidLength { byte: b'x' }) => {}
            other => panic!("unexpected {other:?}"),
        }
        match decode_all(b"12a\n") {
            Err(RecordIoError::InvalidLength { byte: b'a' }) => {}
            other => panic!("unexpected {other:?}"),
        }
        // A negative length is garbage too.
        assert!(matches!(
            decode_all(b"-1\nx"),
            Err(RecordIoError::InvalidLength { byte: b'-' })
        ));
    }

    #[test]
    fn zero_length_is_an_error() {
        assert!(matches!(decode_all(b"0\n"), Err(RecordIoError::ZeroLength)));
        assert!(matches!(
            decode_all(b"000\n"),
            Err(RecordIoError::ZeroLength)
        ));
    }

    #[test]
    fn length_over_the_cap_is_an_error() {
        let mut codec = RecordIoCodec::new(10);
        assert!(matches!(
            decode_pieces(&mut codec, &[b"11\n"]),
            Err(RecordIoError::TooLarge { len: 11, max: 10 })
        ));
        // Exactly the cap is fine.
        let mut codec = RecordIoCodec::new(10);
        let out = decode_pieces(&mut codec, &[b"10\n0123456789"]).unwrap();
        assert_eq!(out, vec!["0123456789"]);
    }

    #[test]
    fn overflowing_length_is_too_large_not_a_panic() {
        assert!(matches!(
            decode_all(b"99999999999999999999\n"),
            Err(RecordIoError::TooLarge { len: u64::MAX, .. })
        ));
    }

    #[test]
    fn endless_length_line_is_capped() {
        let digits = [b'1'; 64];
        let mut codec = RecordIoCodec::default();
        let mut buf = BytesMut::from(&digits[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RecordIoError::LengthLineTooLong)
        ));
        // 20 digits without a newline yet is still "need more".
        let mut codec = RecordIoCodec::default();
        let mut buf = BytesMut::from(&digits[..20]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn eof_mid_record_is_an_error() {
        assert!(matches!(
            decode_all(b"10\nabc"),
            Err(RecordIoError::UnexpectedEof { buffered: 3 })
        ));
        assert!(matches!(
            decode_all(b"3\nabc12"),
            Err(RecordIoError::UnexpectedEof { .. })
        ));
        // A length line with no payload at all.
        assert!(matches!(
            decode_all(b"5\n"),
            Err(RecordIoError::UnexpectedEof { buffered: 0 })
        ));
    }

    #[test]
    fn encoder_writes_length_line() {
        let mut codec = RecordIoCodec::default();
        let mut dst = BytesMut::new();
        codec.encode(&b"hello"[..], &mut dst).unwrap();
        codec.encode(Bytes::from_static(b"x"), &mut dst).unwrap();
        assert_eq!(&dst[..], b"5\nhello1\nx");
        assert!(matches!(
            codec.encode(&b""[..], &mut dst),
            Err(RecordIoError::EmptyRecord)
        ));
        assert_eq!(encode_record(b"ab"), b"2\nab");
    }

    /// Splits `input` at the given cut points (taken modulo its length).
    fn split_at_points(input: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
        if input.is_empty() {
            return vec![input];
        }
        for c in cuts.iter_mut() {
            *c %= input.len() + 1;
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut start = 0;
        for c in cuts {
            pieces.push(&input[start..c]);
            start = c;
        }
        pieces.push(&input[start..]);
        pieces
    }

    proptest! {
        #[test]
        fn round_trip_any_split(
            records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..12),
            cuts in prop::collection::vec(any::<usize>(), 0..20),
        ) {
            let mut codec = RecordIoCodec::default();
            let mut wire = BytesMut::new();
            for r in &records {
                codec.encode(&r[..], &mut wire).unwrap();
            }
            let wire = wire.freeze();
            let pieces = split_at_points(&wire, cuts);
            let out = decode_pieces(&mut RecordIoCodec::default(), &pieces).unwrap();
            let out: Vec<Vec<u8>> = out.into_iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(out, records);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            input in prop::collection::vec(any::<u8>(), 0..200),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
            cap in 1usize..64,
        ) {
            let pieces = split_at_points(&input, cuts.clone());
            let split = decode_pieces(&mut RecordIoCodec::new(cap), &pieces);
            let whole = decode_pieces(&mut RecordIoCodec::new(cap), &[&input]);
            // Any split agrees with the unsplit stream on success, and on
            // failure both fail.
            match (split, whole) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "split {:?} vs whole {:?}", a, b),
            }
        }
    }
}
