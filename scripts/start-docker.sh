#!/usr/bin/env bash
# Make sure a Docker daemon answers on unix:///var/run/docker.sock.
#
# A dockerd that runs is left exactly as it is, whatever its flags: it may be a developer's own,
# running their containers. (The TLS endpoint the tests need is their own,
# test-support/docker-tls-proxy.ts.) Only when no dockerd runs is one started, with the plain unix
# socket, logging to /var/log/vic-lb-dockerd.log. Extra dockerd flags can be given in
# VIC_LB_DOCKERD_ARGS (word-split). Waits at most VIC_LB_DOCKERD_WAIT seconds (default 60) for
# the daemon to answer.
set -euo pipefail

SOCK=/var/run/docker.sock
LOG=/var/log/vic-lb-dockerd.log
WAIT=${VIC_LB_DOCKERD_WAIT:-60}
LOCK=/tmp/vic-lb-start-docker.lock
EXTRA_ARGS=${VIC_LB_DOCKERD_ARGS:-}

# Talk to exactly the socket named here, whatever the caller's env says.
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

log() { echo "[start-docker] $*"; }
die() { echo "[start-docker] ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
command -v docker >/dev/null || die "docker CLI not found (apt-get install docker.io)"

# One instance at a time (set-ups may run concurrently).
exec 9>"$LOCK"
flock -w 300 9 || die "could not take $LOCK"

sock_ok() { timeout 10 docker -H "unix://$SOCK" info >/dev/null 2>&1; }

# alive PID COMM: PID runs COMM and is not a zombie (in some sandboxes PID 1
# does not reap, so a dockerd that was killed can linger as a zombie).
alive() {
  local stat
  [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Whether that dockerd serves $SOCK: another one (trixie's, setup-trixie-engines.sh) names its own
# socket with -H, and is no sign that ours runs.
serves_sock() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmd != *" -H "* || $cmd == *" -H unix://$SOCK "* ]]
}

dockerd_pid() {
  local pid
  for pid in $(cat /var/run/docker.pid 2>/dev/null || true) $(pgrep -x dockerd || true); do
    if alive "$pid" dockerd && serves_sock "$pid"; then
      echo "$pid"
      return
    fi
  done
}

daemon_nofile() { awk '/^Max open files/ { print ($5 == "unlimited" ? 1e9 : $5) }' "/proc/$1/limits" 2>/dev/null || echo 0; }

# A dockerd/containerd killed hard leaves pid files behind; if such a pid now
# belongs to another process, dockerd refuses to start. Drop those.
drop_stale_pidfile() { # file expected-comm
  local p
  [[ -f $1 ]] || return 0
  p=$(cat "$1" 2>/dev/null || true)
  if [[ -z $p ]] || ! alive "$p" "$2"; then rm -f "$1"; fi
}

start_dockerd() { # extra flags...
  local args=(-H "unix://$SOCK")
  # shellcheck disable=SC2206
  [[ -z $EXTRA_ARGS ]] || args+=($EXTRA_ARGS)
  args+=("$@")
  drop_stale_pidfile /var/run/docker.pid dockerd
  drop_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
  # Containers inherit dockerd's open-files limit (a container's --ulimit cannot exceed it), and
  # HAProxy needs about 2 per connection: give it as many as we may.
  ulimit -Hn "$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)" 2>/dev/null || true
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  mkdir -p "$(dirname "$LOG")"
  echo "=== $(date -u +%FT%TZ) start-docker.sh (open files $(ulimit -Hn)): dockerd ${args[*]}" >>"$LOG"
  LOG_OFFSET=$(stat -c %s "$LOG")
  # New session, detached from our terminal/job; fd 9 (our lock) must not be
  # inherited by the long-running daemon, nor our working directory (a clone that may be deleted
  # while the daemon runs).
  (cd / && exec setsid nohup dockerd "${args[@]}" >>"$LOG" 2>&1 </dev/null 9>&-) &
  log "started dockerd, log: $LOG"
}

# wait_ready: 0 when the socket answers, 1 when dockerd died, 2 on timeout.
wait_ready() {
  local deadline=$((SECONDS + WAIT)) gone=0
  while ((SECONDS < deadline)); do
    if sock_ok; then return 0; fi
    if [[ -z $(dockerd_pid) ]]; then
      # Tolerate a moment between fork and the pid showing up.
      gone=$((gone + 1))
      ((gone < 4)) || return 1
    else
      gone=0
    fi
    sleep 0.5
  done
  return 2
}

pid=$(dockerd_pid)
if [[ -n $pid ]]; then
  # It may be starting up right now: give it time, and never restart it.
  wait_ready || die "dockerd (pid $pid) runs but does not answer on $SOCK within ${WAIT}s; it is left alone: check it (its log, or systemctl status docker)"
  log "dockerd (pid $pid) answers on $SOCK; left as it is"
else
  start_dockerd
  set +e
  wait_ready
  rc=$?
  set -e
  if [[ $rc -eq 1 ]]; then
    # dockerd died. Retry once with sandbox-friendly flags if the log says why.
    failure=$(tail -c +"$((LOG_OFFSET + 1))" "$LOG")
    retry=()
    if grep -qi 'iptables' <<<"$failure"; then retry+=(--iptables=false --ip-masq=false); fi
    if grep -qiE 'overlay|graphdriver|storage.driver' <<<"$failure"; then retry+=(--storage-driver=vfs); fi
    if ((${#retry[@]})); then
      log "dockerd exited during start-up; retrying with ${retry[*]}"
      start_dockerd "${retry[@]}"
      set +e
      wait_ready
      rc=$?
      set -e
    fi
  fi
  if [[ $rc -ne 0 ]]; then
    echo "----- last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2 || true
    [[ $rc -eq 1 ]] && die "dockerd exited during start-up"
    die "dockerd did not answer on $SOCK within ${WAIT}s"
  fi
  pid=$(dockerd_pid)
  log "dockerd (pid $pid) is up on $SOCK"
fi

have_nofile=$(daemon_nofile "$pid")
if ((have_nofile < 65536)); then
  log "WARNING: dockerd's open-files limit is $have_nofile; containers inherit it, so e.g." \
    "haproxy 'maxconn' above ~$(((have_nofile - 100) / 2)) cannot start here"
fi
