//! What runs inside a container for one stream, and how to read what it says.
//!
//! Pure: the command lines (argv vectors, never shell text with user data
//! in it), the parsing of the script's stderr, and the first-line
//! fingerprint that tells whether a file is still the one a checkpoint
//! describes.
//!
//! # Why two `tail`s
//!
//! busybox `tail -F` (checked on 1.35) polls once a second: it first checks
//! whether the name now points to another file and, if so, *closes the old
//! file without reading what was appended since its last poll*, then prints
//! the new file from its start (despite saying "following end of new file").
//! Lines written just before a rename would be lost, and since stdout and
//! stderr reach us through separate pipes we could not even tell which bytes
//! belong to which file. So each exec reads exactly one file:
//!
//! * the reader, `tail -c +START -f`, follows the *descriptor*: after a
//!   rename it keeps reading the renamed file, so nothing appended to the old
//!   file is missed;
//! * the detector, `tail -n 0 -F` with its output thrown away, only reports
//!   on stderr that the name now points to a new file.
//!
//! On that report the stream keeps reading until the old file has been quiet
//! for a while, stops the exec, and starts the next one at byte 1 of the new
//! file. The byte offset is therefore always relative to one file (one
//! *generation*), identified by its first line.

/// The script run by `sh -c`. Arguments: `$1` the path, `$2` the first byte
/// to read (1-based, as `tail -c +N` wants), `$3` `fp` to print the file's
/// first line first (for a resumed stream).
///
/// stdout: the optional fingerprint line (`=line` when the first line is
/// complete, `~text` when the file holds no newline yet, `-` when the file
/// cannot be read), then the file's bytes. stderr: `lsm-pids READER
/// DETECTOR`, the detector's messages, and `lsm-exit STATUS` when the reader
/// ends. Only `sh` builtins and `tail` are used.
pub const SCRIPT: &str = r#"if [ "$3" = fp ]; then
  if IFS= read -r l <"$1"; then printf '=%s\n' "$l"
  elif [ -n "$l" ]; then printf '~%s\n' "$l"
  else echo -; fi
fi
tail -n 0 -F -- "$1" >/dev/null & d=$!
tail -c +"$2" -f -- "$1" & r=$!
echo "lsm-pids $r $d" >&2
wait $r; s=$?
kill $d 2>/dev/null
echo "lsm-exit $s" >&2
"#;

/// Kills the given processes if they still are `tail`s, so a PID recorded
/// by an earlier executor that has since been reused by an application
/// process is left alone. Arguments: the PIDs.
///
/// `read` fails on `cmdline` (it has no final newline) but still fills the
/// variable, so its status is not looked at.
pub const KILL_SCRIPT: &str = r#"for p do
  c=
  IFS= read -r c </proc/"$p"/cmdline 2>/dev/null
  case $c in tail*) kill "$p" 2>/dev/null;; esac
done
"#;

/// The exec's argv for streaming `path` from byte `start` (0-based).
pub fn stream_command(path: &str, start: u64, fingerprint: bool) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "sh".into(),
        path.into(),
        (start + 1).to_string(),
        if fingerprint { "fp" } else { "-" }.into(),
    ]
}

/// The exec's argv for stopping a stream's processes.
pub fn kill_command(pids: &[u32]) -> Vec<String> {
    let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), KILL_SCRIPT.into(), "sh".into()];
    argv.extend(pids.iter().map(u32::to_string));
    argv
}

/// One line the script wrote on stderr, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StderrLine {
    Pids {
        reader: u32,
        detector: u32,
    },
    /// The reader ended with this status (127: no `tail`).
    Exit(i32),
    /// The path now names another file (replaced, or reappeared after it
    /// was gone): the current file is finished once it goes quiet.
    Replaced,
    /// The path names no file right now (moved away or deleted).
    Gone,
    /// The reader could not open the file.
    CannotOpen,
    Other(String),
}

/// Parses one stderr line (without its newline).
///
/// Messages are recognised by their fixed endings (busybox: `... has been
/// replaced; following end of new file`, GNU: `... has been replaced;
/// following new file`) so a path containing those words earlier on the line
/// does not confuse it.
pub fn parse_stderr(line: &[u8]) -> StderrLine {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    if let Some(rest) = text.strip_prefix("lsm-pids ") {
        let mut parts = rest.split(' ').map(str::parse::<u32>);
        if let (Some(Ok(reader)), Some(Ok(detector)), None) =
            (parts.next(), parts.next(), parts.next())
        {
            return StderrLine::Pids { reader, detector };
        }
    }
    if let Some(rest) = text.strip_prefix("lsm-exit ")
        && let Ok(status) = rest.parse()
    {
        return StderrLine::Exit(status);
    }
    let following =
        text.ends_with("following end of new file") || text.ends_with("following new file");
    if following && (text.contains(" has been replaced;") || text.contains(" has appeared;")) {
        return StderrLine::Replaced;
    }
    if text.contains(" has become inaccessible") {
        return StderrLine::Gone;
    }
    if text.starts_with("tail: can't open") || text.starts_with("tail: cannot open") {
        return StderrLine::CannotOpen;
    }
    StderrLine::Other(text.to_owned())
}

/// How many bytes of the first line identify a file.
pub const FINGERPRINT_MAX: usize = 256;

/// The start of a file's first line, as far as it is known.
///
/// NUL bytes are left out, because the shell's `read` drops them and both
/// sides must see the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Up to [`FINGERPRINT_MAX`] bytes of the first line, without newline.
    pub head: Vec<u8>,
    /// The first line ended (a newline was seen) or `head` is full: nothing
    /// more will be learnt.
    pub complete: bool,
}

/// The fingerprint line the script printed before streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellFingerprint {
    /// `=`: the whole first line.
    Line(Vec<u8>),
    /// `~`: the file holds no newline yet; all of it.
    Partial(Vec<u8>),
    /// `-`: the file could not be read.
    Unreadable,
}

impl ShellFingerprint {
    pub fn parse(line: &[u8]) -> Self {
        match line.split_first() {
            Some((b'=', rest)) => ShellFingerprint::Line(rest.to_vec()),
            Some((b'~', rest)) => ShellFingerprint::Partial(rest.to_vec()),
            _ => ShellFingerprint::Unreadable,
        }
    }
}

impl Fingerprint {
    /// Learns from bytes read from the very start of the file, in order.
    pub fn observe(&mut self, data: &[u8]) {
        for &b in data {
            if self.complete {
                return;
            }
            match b {
                b'\n' => self.complete = true,
                0 => {}
                _ => {
                    self.head.push(b);
                    if self.head.len() >= FINGERPRINT_MAX {
                        self.complete = true;
                    }
                }
            }
        }
    }

    /// Whether the file the shell looked at can be the file this fingerprint
    /// was taken from. An unreadable file is not called different: the
    /// reader will fail to open it and the stream retries.
    pub fn same_file(&self, shell: &ShellFingerprint) -> bool {
        let (line, whole_line) = match shell {
            ShellFingerprint::Unreadable => return true,
            ShellFingerprint::Line(line) => (line, true),
            ShellFingerprint::Partial(text) => (text, false),
        };
        let shown: Vec<u8> = line.iter().copied().filter(|&b| b != 0).collect();
        let capped = &shown[..shown.len().min(FINGERPRINT_MAX)];
        if !self.complete {
            // We saw only the start of the first line: it must still be there.
            return capped.starts_with(&self.head);
        }
        if self.head.len() >= FINGERPRINT_MAX {
            return capped == self.head.as_slice();
        }
        // We saw the whole first line; the file must start with exactly it.
        whole_line && capped == self.head.as_slice()
    }
}

/// Lower-case hex, for storing raw bytes in JSON.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inverse of [`to_hex`]; `None` on anything else.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_an_argument_not_shell_text() {
        let evil = "\"; touch /pwned; \"$(touch /pwned)`touch /pwned`";
        let argv = stream_command(evil, 41, true);
        assert_eq!(argv[..3], ["sh", "-c", SCRIPT]);
        assert_eq!(argv[4], evil);
        assert_eq!(argv[5], "42");
        assert_eq!(argv[6], "fp");
        assert!(!SCRIPT.contains(evil));
        assert_eq!(stream_command("/a", 0, false)[5..], ["1", "-"]);
        assert_eq!(kill_command(&[7, 9])[3..], ["sh", "7", "9"]);
    }

    #[test]
    fn stderr_lines_are_understood() {
        assert_eq!(
            parse_stderr(b"lsm-pids 18 17"),
            StderrLine::Pids {
                reader: 18,
                detector: 17
            }
        );
        assert_eq!(parse_stderr(b"lsm-exit 127"), StderrLine::Exit(127));
        assert_eq!(
            parse_stderr(b"tail: /tmp/a.log has been replaced; following end of new file"),
            StderrLine::Replaced
        );
        assert_eq!(
            parse_stderr(b"tail: /tmp/a.log has appeared; following end of new file"),
            StderrLine::Replaced
        );
        assert_eq!(
            parse_stderr(b"tail: '/x' has been replaced;  following new file"),
            StderrLine::Replaced
        );
        assert_eq!(
            parse_stderr(b"tail: /tmp/a.log has become inaccessible: No such file or directory"),
            StderrLine::Gone
        );
        assert_eq!(
            parse_stderr(b"tail: can't open '/x': No such file or directory"),
            StderrLine::CannotOpen
        );
        assert_eq!(
            parse_stderr(b"lsm-pids 1 x"),
            StderrLine::Other("lsm-pids 1 x".into())
        );
        // A path that merely contains the words is not a rotation.
        assert!(matches!(
            parse_stderr(b"tail: can't open '/a has been replaced; b': No such file"),
            StderrLine::CannotOpen
        ));
    }

    #[test]
    fn fingerprint_learns_the_first_line_only() {
        let mut fp = Fingerprint::default();
        fp.observe(b"he\0l");
        assert!(!fp.complete);
        fp.observe(b"lo\nworld\n");
        assert_eq!(fp.head, b"hello");
        assert!(fp.complete);
        let mut long = Fingerprint::default();
        long.observe(&[b'x'; FINGERPRINT_MAX + 10]);
        assert_eq!(long.head.len(), FINGERPRINT_MAX);
        assert!(long.complete);
    }

    #[test]
    fn same_file_rules() {
        let whole = Fingerprint {
            head: b"hello".to_vec(),
            complete: true,
        };
        assert!(whole.same_file(&ShellFingerprint::parse(b"=hello")));
        assert!(!whole.same_file(&ShellFingerprint::parse(b"=hello world")));
        assert!(!whole.same_file(&ShellFingerprint::parse(b"~hello")));
        assert!(!whole.same_file(&ShellFingerprint::parse(b"=other")));
        assert!(whole.same_file(&ShellFingerprint::parse(b"-")));
        let started = Fingerprint {
            head: b"hel".to_vec(),
            complete: false,
        };
        assert!(started.same_file(&ShellFingerprint::parse(b"~hel")));
        assert!(started.same_file(&ShellFingerprint::parse(b"~hello")));
        assert!(started.same_file(&ShellFingerprint::parse(b"=hello")));
        assert!(!started.same_file(&ShellFingerprint::parse(b"=he")));
        assert!(!started.same_file(&ShellFingerprint::parse(b"=xyz")));
        let mut capped = Fingerprint::default();
        capped.observe(&[b'y'; 300]);
        let mut shown = b"=".to_vec();
        shown.extend_from_slice(&[b'y'; 500]);
        assert!(capped.same_file(&ShellFingerprint::parse(&shown)));
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
