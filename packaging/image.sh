#!/usr/bin/env bash
# Builds a logstash-mesos Docker image without any registry: the release
# binary and the shared libraries it links, imported as a root file system.
# Usage: packaging/image.sh [NAME:TAG]   (default logstash-mesos:local)
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${1:-logstash-mesos:local}"
BIN=target/release/logstash-mesos
[ -x "$BIN" ] || cargo build --release --locked
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT" "$ROOT.tar"' EXIT
mkdir -p "$ROOT/usr/local/bin" "$ROOT/tmp" "$ROOT/etc" "$ROOT/var/lib/logstash-mesos"
chmod 1777 "$ROOT/tmp"
cp "$BIN" "$ROOT/usr/local/bin/logstash-mesos"
# The dynamic loader and every library the binary needs, at their own paths.
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
tar --numeric-owner -C "$ROOT" -cf "$ROOT.tar" .
docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/logstash-mesos"]' \
  --change 'CMD ["scheduler", "--help"]' \
  --change 'EXPOSE 9092' \
  "$ROOT.tar" "$NAME" >/dev/null
echo "$NAME"
