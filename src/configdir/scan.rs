//! Reading the configuration directory: `docker/<image>.conf` (subfolders for
//! `/` in the image name) and `host/<name>.conf`.

use std::path::Path;

use crate::events::ConfigKind;

use super::plan::DirFile;

/// Larger files are refused, as the API refuses larger bodies.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Every `.conf` file below `dir/docker` (recursively) and `dir/host`, sorted
/// by path. Hidden files (editor swap files) are skipped.
pub fn scan(dir: &Path) -> std::io::Result<Vec<DirFile>> {
    let mut files = Vec::new();
    walk(
        &dir.join("docker"),
        "",
        true,
        ConfigKind::Docker,
        &mut files,
    )?;
    walk(&dir.join("host"), "", false, ConfigKind::Host, &mut files)?;
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(files)
}

fn walk(
    dir: &Path,
    prefix: &str,
    recursive: bool,
    kind: ConfigKind,
    out: &mut Vec<DirFile>,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let top = match kind {
        ConfigKind::Docker => "docker",
        ConfigKind::Host => "host",
    };
    for entry in entries {
        let entry = entry?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let relative = format!("{prefix}{file_name}");
        if path.is_dir() {
            if recursive {
                walk(&path, &format!("{relative}/"), true, kind, out)?;
            }
            continue;
        }
        let Some(name) = relative.strip_suffix(".conf").filter(|n| !n.is_empty()) else {
            continue;
        };
        out.push(DirFile {
            file: format!("{top}/{relative}"),
            name: name.to_owned(),
            kind,
            content: read(&path),
        });
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "the file has {size} bytes, at most {MAX_FILE_BYTES} are allowed"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("docker/mesos")).unwrap();
        std::fs::create_dir_all(d.join("host/ignored-subdir")).unwrap();
        std::fs::write(d.join("docker/mesos/logstash:0.0.6.conf"), "a").unwrap();
        std::fs::write(d.join("docker/nginx.conf"), "b").unwrap();
        std::fs::write(d.join("docker/.nginx.conf.swp"), "x").unwrap();
        std::fs::write(d.join("docker/README"), "x").unwrap();
        std::fs::write(d.join("host/syslog.conf"), "c").unwrap();
        std::fs::write(d.join("host/ignored-subdir/x.conf"), "x").unwrap();
        std::fs::write(d.join("docker/latin1.conf"), b"caf\xe9").unwrap();
        let files = scan(d).unwrap();
        let summary: Vec<(&str, &str, ConfigKind)> = files
            .iter()
            .map(|f| (f.file.as_str(), f.name.as_str(), f.kind))
            .collect();
        assert_eq!(
            summary,
            [
                ("docker/latin1.conf", "latin1", ConfigKind::Docker),
                (
                    "docker/mesos/logstash:0.0.6.conf",
                    "mesos/logstash:0.0.6",
                    ConfigKind::Docker
                ),
                ("docker/nginx.conf", "nginx", ConfigKind::Docker),
                ("host/syslog.conf", "syslog", ConfigKind::Host),
            ]
        );
        assert!(files[0].content.as_ref().unwrap_err().contains("not UTF-8"));
        assert_eq!(files[1].content.as_deref(), Ok("a"));
        assert!(scan(&d.join("missing")).unwrap().is_empty());
    }
}
