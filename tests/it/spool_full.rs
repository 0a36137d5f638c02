//! A spool write that fails part-way (a full disk, on a real tmpfs) leaves no
//! torn and no repeated line: the live segment is cut back to its last good
//! length, and the retry, once there is room, writes every line once.

use std::path::{Path, PathBuf};
use std::process::Command;

use logstash_mesos::executor::spool::SpoolWriter;

/// A tmpfs of `size` mounted on `at`, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn line(n: usize) -> Vec<u8> {
    format!("{n:08} {}\n", "x".repeat(190)).into_bytes()
}

#[test]
fn a_full_disk_leaves_whole_lines_and_the_retry_writes_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("small"), "256k") else {
        println!("SKIP a_full_disk_leaves_whole_lines: cannot mount a tmpfs (needs root)");
        return;
    };
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; 150 * 1024]).unwrap();
    let spool = disk.0.join("stream");
    let mut writer = SpoolWriter::open(&spool, 1 << 30).unwrap();

    // Write until the disk is full. A line `write` refuses is not taken;
    // what it took stays buffered when a later flush fails.
    let mut next = 0;
    let failed = loop {
        if let Err(e) = writer.write(&line(next)) {
            break e;
        }
        next += 1;
        if next % 50 == 0
            && let Err(e) = writer.sync()
        {
            break e;
        }
        assert!(next < 10_000, "the disk never filled up");
    };
    println!("full after {next} lines: {failed}");
    let live = spool.join("spool.log");
    let on_disk = std::fs::read(&live).unwrap();
    assert!(
        on_disk.is_empty() || on_disk.ends_with(b"\n"),
        "a torn line is left after the failed write"
    );
    assert_eq!(on_disk.len() % line(0).len(), 0, "whole lines only");
    let whole = on_disk.len() / line(0).len();
    assert!(whole < next, "some lines are still buffered for the retry");

    // Room again: the retry writes what was buffered, then the next line,
    // each once, in order.
    std::fs::remove_file(&filler).unwrap();
    writer
        .sync()
        .expect("the retry failed with room on the disk");
    writer.write(&line(next)).unwrap();
    next += 1;
    writer.sync().unwrap();
    let expected: Vec<u8> = (0..next).flat_map(line).collect();
    let on_disk = std::fs::read(&live).unwrap();
    assert_eq!(on_disk.len(), expected.len(), "lines lost or repeated");
    assert!(
        on_disk == expected,
        "the spool differs from the lines written"
    );
}
