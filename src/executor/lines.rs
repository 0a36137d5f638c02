//! Re-cutting Docker's output into whole lines, bytes untouched.
//!
//! A frame of Docker's multiplexed stream is one `write()` of the process in
//! the container (busybox `tail` writes up to 8 KiB at a time), not a line.
//! The spool must only ever receive whole lines, so a segment rotation or a
//! checkpoint never cuts a line in two; the offset the checkpoint records is
//! therefore always at a line boundary (or at a forced cut, see
//! [`LineBuffer::push`]), and a resumed stream re-reads a partial line whole.

/// Holds the unfinished last line between chunks.
#[derive(Debug)]
pub struct LineBuffer {
    partial: Vec<u8>,
    cap: usize,
}

/// What one [`LineBuffer::push`] released.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Bytes handed to the sink (complete lines, or a forced cut).
    pub bytes: u64,
    /// Newlines among them.
    pub lines: u64,
    /// Whether an over-long line was cut: its first `cap` or more bytes went
    /// out without a newline, and the rest follows in later pushes.
    pub cut: bool,
}

impl LineBuffer {
    /// `cap` bounds the memory one endless line can take.
    pub fn new(cap: usize) -> Self {
        LineBuffer {
            partial: Vec::new(),
            cap: cap.max(1),
        }
    }

    /// Bytes held back because their line has not ended yet.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Forgets the held-back partial line (its source bytes are not counted
    /// as consumed, so a resumed stream reads them again).
    pub fn clear(&mut self) {
        self.partial.clear();
    }

    /// Takes `chunk`, hands every complete line (and, past the cap, the
    /// partial line as it is) to `sink` in order, and keeps the rest.
    ///
    /// The sink gets at most two calls per push (the held-back bytes, then
    /// the chunk's complete lines), so a large chunk is never copied.
    pub fn push<E>(
        &mut self,
        chunk: &[u8],
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Released, E> {
        let mut released = Released::default();
        match memchr::memrchr(b'\n', chunk) {
            Some(last) => {
                let (lines, rest) = chunk.split_at(last + 1);
                if !self.partial.is_empty() {
                    sink(&self.partial)?;
                    released.bytes += self.partial.len() as u64;
                    self.partial.clear();
                }
                sink(lines)?;
                released.bytes += lines.len() as u64;
                released.lines = memchr::memchr_iter(b'\n', lines).count() as u64;
                self.partial.extend_from_slice(rest);
            }
            None => self.partial.extend_from_slice(chunk),
        }
        if self.partial.len() >= self.cap {
            sink(&self.partial)?;
            released.bytes += self.partial.len() as u64;
            released.cut = true;
            self.partial.clear();
        }
        Ok(released)
    }
}

/// Counts newlines, for reading back duplicate lines from the spool.
pub fn count_lines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(buffer: &mut LineBuffer, chunks: &[&[u8]]) -> (Vec<u8>, Released) {
        let mut out = Vec::new();
        let mut total = Released::default();
        for chunk in chunks {
            let r = buffer
                .push(chunk, |b| {
                    out.extend_from_slice(b);
                    Ok::<(), ()>(())
                })
                .unwrap();
            total.bytes += r.bytes;
            total.lines += r.lines;
            total.cut |= r.cut;
        }
        (out, total)
    }

    #[test]
    fn lines_are_rejoined_across_chunks() {
        let mut b = LineBuffer::new(1024);
        let (out, r) = run(&mut b, &[b"ab", b"c\nde", b"f\n", b"gh"]);
        assert_eq!(out, b"abc\ndef\n");
        assert_eq!((r.bytes, r.lines, r.cut), (8, 2, false));
        assert_eq!(b.pending(), 2);
    }

    #[test]
    fn bytes_are_kept_exactly_even_when_not_utf8() {
        let mut b = LineBuffer::new(1024);
        let (out, r) = run(&mut b, &[b"\xff\xfe\x00", b"\r\n\xc3", b"\xa9\n"]);
        assert_eq!(out, b"\xff\xfe\x00\r\n\xc3\xa9\n");
        assert_eq!(r.lines, 2);
    }

    #[test]
    fn an_endless_line_is_cut_at_the_cap() {
        let mut b = LineBuffer::new(4);
        let (out, r) = run(&mut b, &[b"ab", b"cdef", b"g\n"]);
        assert_eq!(out, b"abcdefg\n");
        assert!(r.cut);
        assert_eq!(r.lines, 1);
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn every_split_of_the_input_gives_the_same_output() {
        let input = b"one\ntwo\n\nthree\nfour";
        for i in 0..input.len() {
            for j in i..input.len() {
                let mut b = LineBuffer::new(1024);
                let (out, r) = run(&mut b, &[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(out, b"one\ntwo\n\nthree\n");
                assert_eq!(r.lines, 4);
            }
        }
    }

    #[test]
    fn sink_errors_propagate() {
        let mut b = LineBuffer::new(8);
        assert_eq!(b.push(b"x\n", |_| Err("disk full")), Err("disk full"));
    }
}
