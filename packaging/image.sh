#!/usr/bin/env bash
# Builds a logstash-mesos Docker image without any registry: the release
# binaries (logstash-mesos and the event tool logstash-mesos-events) and the
# shared libraries they link, imported as a root file system.
# Usage: packaging/image.sh [NAME:TAG]   (default logstash-mesos:local)
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${1:-logstash-mesos:local}"
BINS="target/release/logstash-mesos target/release/logstash-mesos-events"
for bin in $BINS; do [ -x "$bin" ] || cargo build --release --locked; done
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT" "$ROOT.tar"' EXIT
mkdir -p "$ROOT/usr/local/bin" "$ROOT/tmp" "$ROOT/etc" "$ROOT/var/lib/logstash-mesos"
chmod 1777 "$ROOT/tmp"
for bin in $BINS; do
  cp "$bin" "$ROOT/usr/local/bin/"
done
# The dynamic loader and every library the binaries need, at their own paths.
# shellcheck disable=SC2086
for lib in $(ldd $BINS | grep -o '/[^ :]*\.so[^ :]*' | sort -u); do
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
