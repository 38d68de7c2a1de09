#!/usr/bin/env bash
# Debian trixie's Docker Engine 26.1 and Podman 5.4 as further hosts for the e2e suite, run on this
# (bookworm) machine from the root scripts/debian-rootfs.sh makes (trixie-engines):
#   docker  dockerd's API on unix:///run/vic-lb-trixie-docker/docker.sock
#   podman  `podman system service` on unix:///run/vic-lb-trixie-podman/podman.sock
# each with the offline test images (scripts/copy-test-images.sh).
#
# Each engine runs in a network namespace of its own, vic-lb-trixie-<engine>, so that its bridges
# and iptables rules stay apart from the host's dockerd; a port it publishes is on that
# namespace's loopback, so the tests run in it too (see the README's development section):
#   ip netns exec vic-lb-trixie-podman env VIC_LB_E2E_ENGINE=podman \
#     VIC_LB_E2E_DOCKER_HOST=unix:///run/vic-lb-trixie-podman/podman.sock ... npx vitest ...
# It enters the root with pivot_root in a mount namespace of its own: runc's `exec` joins a
# container's mount namespace, whose root is the daemon's, so under a chroot an exec would land in
# the host's files. That namespace gets a /sys of the engine's network namespace with the host's
# cgroup hierarchies bound into it, /dev, and its own /run and /tmp; the engine's state is in
# /var/lib/vic-lb-trixie-<engine>, its log in /var/log/vic-lb-trixie-<engine>.log.
#
# Usage: scripts/setup-trixie-engines.sh [ENGINE...]        starts them (default: docker podman);
#                                                           one that answers is left as it is
#        scripts/setup-trixie-engines.sh stop [ENGINE...]   removes their containers, stops them,
#                                                           removes their namespace and state
# Needs: root, a running dockerd with the test images (scripts/start-docker.sh,
# scripts/build-test-images.sh), debootstrap and Debian's archive for the root (once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROOT=${VIC_LB_ROOTFS_DIR:-/var/lib/vic-lb-test}/trixie-engines
# The engine's API socket, and the directory its state lives in inside the root.
declare -A SOCKET=([docker]=docker.sock [podman]=podman.sock)
declare -A DATA_DIR=([docker]=/var/lib/docker [podman]=/var/lib/containers)
# This machine has cgroup v1 (hybrid), which Podman's default runtime crun refuses ("cgroups in
# hybrid mode not supported"); there is no systemd to manage cgroups; journald is not running.
# Rootful Podman asks runc for 1048576 open files, which a machine without CAP_SYS_RESOURCE
# refuses ("error setting rlimit type 7"), as in scripts/setup-podman.sh.
PODMAN_CONF='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
'

log() { echo "[setup-trixie-engines] $*"; }
die() { echo "[setup-trixie-engines] ERROR: $*" >&2; exit 1; }

netns() { echo "vic-lb-trixie-$1"; }
run_dir() { echo "/run/vic-lb-trixie-$1"; }
state_dir() { echo "/var/lib/vic-lb-trixie-$1"; }
log_file() { echo "/var/log/vic-lb-trixie-$1.log"; }
socket() { echo "unix://$(run_dir "$1")/${SOCKET[$1]}"; }
answers() { curl -fsS --max-time 5 --unix-socket "$(run_dir "$1")/${SOCKET[$1]}" http://engine/_ping >/dev/null 2>&1; }

# The command that serves the engine's API, as run inside the root.
engine_command() {
  local sock
  sock=$(run_dir "$1")/${SOCKET[$1]}
  case $1 in
    docker) echo "dockerd -H unix://$sock" ;;
    podman) echo "env CONTAINERS_CONF=$(run_dir "$1")/containers.conf podman system service --time=0 unix://$sock" ;;
  esac
}

# Run by /bin/sh in the engine's new mount namespace (and its network namespace): builds the
# root's mounts, pivots into it and becomes the engine. Arguments: root, run dir, state dir, the
# engine's data directory in the root, then the engine's command.
ENTER='set -e
root=$1 run=$2 state=$3 data=$4
shift 4
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
mkdir -p "$root$run" "$root$data"
mount --bind "$run" "$root$run"
mount --bind "$state" "$root$data"
cd "$root"
pivot_root . mnt
umount -l /mnt
# Containers inherit the daemon'"'"'s open-files limit, and HAProxy needs about 2 per connection:
# as many as we may.
ulimit -Hn "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec "$@"'

start() {
  local engine=$1 ns run state deadline
  ns=$(netns "$engine") run=$(run_dir "$engine") state=$(state_dir "$engine")
  if answers "$engine"; then
    log "$engine answers on $(socket "$engine"); left as it is"
  else
    # What a stopped or failed start left behind.
    stop "$engine" >/dev/null
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    mkdir -p "$run" "$state"
    [[ $engine != podman ]] || printf '%s' "$PODMAN_CONF" >"$run/containers.conf"
    echo "=== $(date -u +%FT%TZ) setup-trixie-engines.sh: $(engine_command "$engine")" >>"$(log_file "$engine")"
    # New session, detached from us; fd 9 (our lock) must not be inherited by the engine. Neither
    # nsenter nor unshare forks, so the PID is the engine's.
    # shellcheck disable=SC2046
    setsid nohup nsenter --net="/run/netns/$ns" unshare --mount --propagation private \
      /bin/sh -c "$ENTER" sh "$ROOT" "$run" "$state" "${DATA_DIR[$engine]}" $(engine_command "$engine") \
      >>"$(log_file "$engine")" 2>&1 </dev/null 9>&- &
    echo $! >"$run/engine.pid"
    deadline=$((SECONDS + 60))
    until answers "$engine"; do
      if ((SECONDS >= deadline)) || ! kill -0 "$(cat "$run/engine.pid")" 2>/dev/null; then
        tail -n 30 "$(log_file "$engine")" >&2
        die "$engine does not answer on $(socket "$engine") (log: $(log_file "$engine"))"
      fi
      sleep 0.5
    done
    log "started $engine on $(socket "$engine") in network namespace $ns (log: $(log_file "$engine"))"
  fi
  scripts/copy-test-images.sh "$(socket "$engine")"
}

# running PID: PID exists and is no zombie (in some sandboxes PID 1 does not reap an engine that
# exited once our set-up had exited).
running() {
  local state
  state=$(ps -o stat= -p "$1") && [[ $state != Z* ]]
}

# kill_tree PID: kills PID and every process descended from it.
kill_tree() {
  local child
  kill -STOP "$1" 2>/dev/null || return 0
  for child in $(ps -o pid= --ppid "$1"); do kill_tree "$child"; done
  kill -KILL "$1" 2>/dev/null || true
}

stop() {
  local engine=$1 ns run pid containers
  ns=$(netns "$engine") run=$(run_dir "$engine")
  if answers "$engine"; then
    # Podman's containers outlive its API service (conmon keeps them): remove them through it.
    containers=$(docker -H "$(socket "$engine")" ps -aq)
    # shellcheck disable=SC2086
    [[ -z $containers ]] || docker -H "$(socket "$engine")" rm -f $containers >/dev/null ||
      log "$engine could not remove every container; what is left is killed below"
  fi
  pid=$(cat "$run/engine.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && running "$pid"; then
    kill -TERM "$pid"
    for _ in $(seq 60); do running "$pid" || break; sleep 0.5; done
    kill_tree "$pid"
  fi
  # What is left in the namespace (containerd and its shims, conmon) belongs to this engine alone,
  # and so do their children, the containers' processes (each in a network namespace of its own).
  if [[ -e /run/netns/$ns ]]; then
    for pid in $(ip netns pids "$ns"); do kill_tree "$pid"; done
    ip netns delete "$ns"
  fi
  rm -rf "$run" "$(state_dir "$engine")"
  log "stopped $engine; removed its network namespace $ns and its state"
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
action=start
if [[ ${1:-} == stop ]]; then
  action=stop
  shift
fi
(($#)) || set -- docker podman
for engine in "$@"; do [[ -n ${SOCKET[$engine]:-} ]] || die "unknown engine '$engine' (known: ${!SOCKET[*]})"; done

exec 9>/tmp/vic-lb-setup-trixie-engines.lock
flock -w 300 9 || die "could not take /tmp/vic-lb-setup-trixie-engines.lock"
[[ $action == stop ]] || scripts/debian-rootfs.sh trixie-engines
for engine in "$@"; do "$action" "$engine"; done
