#!/usr/bin/env bash
# Podman as a second engine for the e2e suite (VIC_LB_E2E_ENGINE=podman): its Docker-compatible
# API on unix:///run/vic-lb-podman/podman.sock, with the offline test images in it.
#
# - /etc/containers/containers.conf gets, under [containers],
#     default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
#   (rootful Podman asks runc for 1048576 open files, which a machine without CAP_SYS_RESOURCE
#   refuses with "error setting rlimit type 7"). Nothing else is changed: the tests are about
#   Podman's own defaults, such as ports below 1024 being privileged in containers.
# - `podman system service --time=0` is started in the background, logging to
#   /var/log/vic-lb-podman.log, unless something already answers on the socket (then it is left
#   alone).
# - The test images are copied from dockerd (scripts/copy-test-images.sh).
# Idempotent and quick when done. Needs: root, podman (apt-get install podman), a running dockerd
# with the test images (scripts/start-docker.sh, scripts/build-test-images.sh).
set -euo pipefail

SOCK=${VIC_LB_PODMAN_SOCK:-/run/vic-lb-podman/podman.sock}
CONF=/etc/containers/containers.conf
ULIMITS='default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
LOG=/var/log/vic-lb-podman.log

log() { echo "[setup-podman] $*"; }
die() { echo "[setup-podman] ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"
command -v podman >/dev/null || die "podman not found (apt-get install podman)"

exec 9>/tmp/vic-lb-setup-podman.lock
flock -w 300 9 || die "could not take /tmp/vic-lb-setup-podman.lock"

# The ulimits line, under [containers], once.
mkdir -p "$(dirname "$CONF")"
touch "$CONF"
if grep -qxF "$ULIMITS" "$CONF"; then
  log "$CONF has the default_ulimits line"
elif grep -q '^[[:space:]]*default_ulimits[[:space:]]*=' "$CONF"; then
  die "$CONF sets default_ulimits already, to something else; set it to: $ULIMITS (under [containers])"
elif grep -q '^\[containers\]' "$CONF"; then
  sed -i "/^\[containers\]/a $ULIMITS" "$CONF"
  log "added the default_ulimits line under [containers] in $CONF"
else
  printf '\n[containers]\n%s\n' "$ULIMITS" >>"$CONF"
  log "added [containers] with the default_ulimits line to $CONF"
fi

answers() { curl -fsS --max-time 5 --unix-socket "$SOCK" http://podman/_ping >/dev/null 2>&1; }
if answers; then
  log "Podman's API answers on unix://$SOCK; left as it is"
else
  mkdir -p "$(dirname "$SOCK")"
  rm -f "$SOCK"
  echo "=== $(date -u +%FT%TZ) setup-podman.sh: podman system service --time=0 unix://$SOCK" >>"$LOG"
  # New session, detached from us; fd 9 (our lock) must not be inherited by the service.
  # crun, Podman's default runtime on Debian 12, refuses to start any container on a machine whose
  # cgroups are mounted in hybrid mode (v1 hierarchies beside a cgroup2 that has controllers, on
  # /sys/fs/cgroup/unified): "cgroups in hybrid mode not supported". runc runs them there.
  runtime=()
  if [[ -n $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null) ]]; then
    runtime=(--runtime runc)
    log "cgroups in hybrid mode: the service runs containers with runc"
  fi
  # Started in /: the service and every conmon it forks work in its working directory, and where
  # that was a clone deleted since (a CI clone made again), each container start failed ("[conmon:e]
  # Failed to get working directory", the API saying "write child: broken pipe").
  (cd / && exec setsid nohup podman "${runtime[@]}" system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null 9>&-) &
  deadline=$((SECONDS + 60))
  until answers; do
    if ((SECONDS >= deadline)); then
      tail -n 30 "$LOG" >&2
      die "podman system service does not answer on unix://$SOCK after 60 s (log: $LOG)"
    fi
    sleep 0.5
  done
  log "started Podman's API on unix://$SOCK (log: $LOG)"
fi

"$(dirname "${BASH_SOURCE[0]}")/copy-test-images.sh" "unix://$SOCK"
