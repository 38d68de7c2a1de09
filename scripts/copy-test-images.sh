#!/usr/bin/env bash
# Copies the offline test images from the host's dockerd (scripts/build-test-images.sh) into
# another engine through its Docker API: `docker save | docker load`, for each image the engine
# lacks or has with another image ID. Quick when done.
#
# Usage: scripts/copy-test-images.sh DOCKER_HOST   (e.g. unix:///run/vic-lb-podman/podman.sock)
set -euo pipefail

TARGET=${1:?usage: copy-test-images.sh DOCKER_HOST}
SOURCE=unix:///var/run/docker.sock
# Talk to exactly the sockets named here, whatever the caller's env says.
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT
IMAGES=(vic-lb-test/web:1 vic-lb-test/web:2 vic-lb-test/crash:1 vic-lb-test/silent:1 vic-lb-test/traffic:1 vic-lb-test/haproxy:2.6 vic-lb-test/haproxy:3.0)

log() { echo "[copy-test-images] $*"; }
die() { echo "[copy-test-images] ERROR: $*" >&2; exit 1; }

missing=()
for image in "${IMAGES[@]}"; do
  id=$(docker -H "$SOURCE" image inspect --format '{{.Id}}' "$image" 2>/dev/null) || die "dockerd has no $image (run scripts/build-test-images.sh)"
  # Podman names a loaded image localhost/<name>; the short name finds it through its API too.
  have=$(docker -H "$TARGET" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  [[ $have == "$id" ]] || missing+=("$image")
done
if ((${#missing[@]} == 0)); then
  log "$TARGET has every test image"
else
  docker -H "$SOURCE" save "${missing[@]}" | docker -H "$TARGET" load -q >/dev/null
  log "loaded into $TARGET: ${missing[*]}"
fi
