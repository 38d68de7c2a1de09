#!/usr/bin/env bash
# Build the offline container images used by the end-to-end tests.
#
# No container registry is reachable from CI, so every image is made here from
# binaries that Debian packages ship (busybox-static, haproxy) and loaded into
# the local Docker Engine with `docker import` (+ `--change`):
#
#   vic-lb-test/web:1      busybox httpd; serves "web v1 <hostname>" on $PORT
#                          (default 80). The "app" that gets deployed N times;
#                          hostname = container id, so each replica answers
#                          differently (lets tests see round-robin).
#   vic-lb-test/web:2      same, but serves "web v2 <hostname>": the "new
#                          version" for rolling-update / redeploy tests.
#   vic-lb-test/crash:1    prints "crash: failing on purpose" to stderr and
#                          exits 3 at once: for "replica died on start" tests.
#   vic-lb-test/silent:1   runs forever but listens on nothing: a replica that
#                          never becomes healthy (health-check timeout tests).
#   vic-lb-test/haproxy:2.6
#                          Debian's haproxy 2.6 + the shared libraries it needs,
#                          laid out like the official `haproxy` image (2.4+):
#                          config /usr/local/etc/haproxy/haproxy.cfg, runs as
#                          uid/gid 99 ("haproxy"), STOPSIGNAL SIGUSR1, default
#                          command `haproxy -W -db -f .../haproxy.cfg` (master-
#                          worker, master is PID 1, `kill -s USR2` reloads).
#                          The load balancer the action deploys. No shell in it.
#
# Idempotent and fast: each image carries a label with a hash of this script and
# of the Debian binaries it was made from; an image whose label matches is left
# alone. After building anything the images are verified for real (web served
# over a user-defined bridge network, haproxy balancing, USR2 reload, graceful
# `docker stop`); everything the verification creates is removed again.
#
# Usage: scripts/build-test-images.sh [--force] [--verify|--no-verify]
#   --force      rebuild every image even if it is up to date
#   --verify     run the verification even if nothing was built
#   --no-verify  skip the verification
# Needs: root, a running dockerd, busybox-static, haproxy, curl.
#
# Note on STOPSIGNAL: Docker Engine 20.10 (Debian 12's docker.io) rejects
# `docker import --change STOPSIGNAL` ("stopsignal is not a valid change
# command"), so for the haproxy image the imported rootfs gets one extra
# two-line `docker build` (FROM <imported id> / STOPSIGNAL SIGUSR1) with the
# classic builder (DOCKER_BUILDKIT=0; no base image is pulled).
#
# Note on signals: busybox httpd/sleep install no SIGTERM handler, and the
# kernel drops such signals for a PID-namespace init, so `exec httpd` as PID 1
# would make every `docker stop` wait its full timeout and then SIGKILL. The
# web/silent images therefore run a tiny /bin/sh wrapper as PID 1 that traps
# TERM/INT, stops its child and exits 0.
set -euo pipefail

DOCKER=${DOCKER:-docker}
BUSYBOX=${BUSYBOX:-/bin/busybox}
HAPROXY_BIN=${HAPROXY_BIN:-/usr/sbin/haproxy}
LABEL_KEY=vic-lb-test.recipe
STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

WEB1=vic-lb-test/web:1
WEB2=vic-lb-test/web:2
CRASH=vic-lb-test/crash:1
SILENT=vic-lb-test/silent:1
HAPROXY=vic-lb-test/haproxy:2.6

FORCE=0
VERIFY=auto
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --verify) VERIFY=1 ;;
    --no-verify) VERIFY=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    *) echo "build-test-images: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[build-test-images] $*"; }
die() { echo "[build-test-images] ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (image root filesystems need uid 0/99 ownership)"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
"$BUSYBOX" --list | grep -x httpd >/dev/null || die "$BUSYBOX has no httpd applet (need busybox-static)"
[[ -x $HAPROXY_BIN ]] || die "$HAPROXY_BIN not found (apt-get install haproxy)"
command -v curl >/dev/null || die "curl not found"
"$DOCKER" info >/dev/null 2>&1 || die "cannot talk to the Docker daemon (run scripts/start-docker.sh)"

# One instance at a time (parallel test set-ups may call this concurrently).
exec 9>/tmp/vic-lb-build-test-images.lock
flock -w 600 9 || die "could not take /tmp/vic-lb-build-test-images.lock"

# Recipe hash: this script + the exact binaries copied into the images.
RECIPE=$(cat "${BASH_SOURCE[0]}" "$BUSYBOX" "$HAPROXY_BIN" | sha256sum | cut -c1-32)

WORK=$(mktemp -d /tmp/vic-lb-images.XXXXXX)
CREATED_CONTAINERS=()
CREATED_NETWORKS=()
cleanup() {
  local c n
  for c in "${CREATED_CONTAINERS[@]+"${CREATED_CONTAINERS[@]}"}"; do
    "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true
  done
  for n in "${CREATED_NETWORKS[@]+"${CREATED_NETWORKS[@]}"}"; do
    "$DOCKER" network rm "$n" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

up_to_date() {
  local tag=$1 have
  [[ $FORCE -eq 0 ]] || return 1
  have=$("$DOCKER" image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "$tag" 2>/dev/null) || return 1
  [[ $have == "$RECIPE" ]]
}

old_image_id() { "$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# Remove an image this script built earlier and that is no longer tagged
# (only if it still carries our label, and only if nothing uses it).
drop_old_image() {
  local old=$1 tag=$2 new
  [[ -n $old ]] || return 0
  new=$(old_image_id "$tag")
  [[ $old != "$new" ]] || return 0
  if "$DOCKER" image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "$old" 2>/dev/null | grep -q .; then
    "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
  fi
}

# Deterministic tar of a root filesystem on stdout (ownership kept numerically).
pack_rootfs() {
  tar --sort=name --mtime=@0 --numeric-owner -C "$1" -cf - .
}

# Minimal busybox-static root filesystem in $1.
make_busybox_rootfs() {
  local root=$1 applet
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,www,run,var/run}
  install -d -m 1777 "$root/tmp"
  install -m 0755 "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

import_busybox_image() {
  local tag=$1 root=$2
  shift 2
  local old
  old=$(old_image_id "$tag")
  pack_rootfs "$root" | "$DOCKER" import \
    --change "ENV PATH=$STD_PATH" \
    --change 'WORKDIR /' \
    --change "LABEL $LABEL_KEY=$RECIPE" \
    "$@" - "$tag" >/dev/null
  drop_old_image "$old" "$tag"
  log "built $tag"
}

build_web() {
  local version=$1 tag=$2 root="$WORK/web-$1"
  make_busybox_rootfs "$root"
  cat >"$root/usr/local/bin/web-entrypoint" <<EOF
#!/bin/sh
# vic-lb-test web image, version $version (fixed at build time).
# Writes "web $version <hostname>" to /www/index.html and serves /www with
# busybox httpd on \$PORT (default 80), in the foreground.
set -e
PORT="\${PORT:-80}"
mkdir -p /www
echo "web $version \$(hostname)" >/www/index.html
# httpd has no SIGTERM handler and would ignore docker stop as PID 1, so run
# it as a child and forward TERM/INT to it.
httpd -f -p "\$PORT" -h /www &
child=\$!
trap 'kill -TERM "\$child" 2>/dev/null; wait "\$child" 2>/dev/null; exit 0' TERM INT
set +e  # an interrupted wait returns 143; let the trap run instead of set -e
wait "\$child"
exit \$?
EOF
  chmod 0755 "$root/usr/local/bin/web-entrypoint"
  import_busybox_image "$tag" "$root" \
    --change 'EXPOSE 80/tcp' \
    --change 'CMD ["/usr/local/bin/web-entrypoint"]'
}

build_crash() {
  local root="$WORK/crash"
  make_busybox_rootfs "$root"
  cat >"$root/usr/local/bin/crash" <<'EOF'
#!/bin/sh
# vic-lb-test crash image: fails immediately on purpose.
echo "crash: failing on purpose" >&2
exit 3
EOF
  chmod 0755 "$root/usr/local/bin/crash"
  import_busybox_image "$CRASH" "$root" --change 'CMD ["/usr/local/bin/crash"]'
}

build_silent() {
  local root="$WORK/silent"
  make_busybox_rootfs "$root"
  cat >"$root/usr/local/bin/silent" <<'EOF'
#!/bin/sh
# vic-lb-test silent image: runs forever, listens on nothing (never healthy).
# Exits 0 on TERM/INT so that docker stop is quick.
trap 'exit 0' TERM INT
while :; do
  sleep 100000 &
  wait $!
done
EOF
  chmod 0755 "$root/usr/local/bin/silent"
  import_busybox_image "$SILENT" "$root" --change 'CMD ["/usr/local/bin/silent"]'
}

build_haproxy() {
  local root="$WORK/haproxy" lib old id ctx="$WORK/haproxy-ctx"
  mkdir -p "$root"/{usr/local/sbin,etc,dev,proc,sys,run}
  install -m 0755 "$HAPROXY_BIN" "$root/usr/local/sbin/haproxy"
  # Every shared library haproxy needs, at the path ldd resolves it to
  # (dereferenced), plus the dynamic loader (the ELF interpreter path).
  while read -r lib; do
    [[ -n $lib ]] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$HAPROXY_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
  [[ -e $root/lib64/ld-linux-x86-64.so.2 || -n $(find "$root" -name 'ld-linux*' -print -quit) ]] ||
    die "dynamic loader not found in ldd output of $HAPROXY_BIN"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nhaproxy:x:99:99:haproxy:/var/lib/haproxy:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nhaproxy:x:99:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  install -d -m 0755 "$root/usr/local/etc/haproxy"
  install -d -m 0755 -o 99 -g 99 "$root/var/lib/haproxy"
  install -d -m 1777 "$root/tmp"
  chmod 0755 "$root/run"

  old=$(old_image_id "$HAPROXY")
  id=$(pack_rootfs "$root" | "$DOCKER" import \
    --change "ENV PATH=$STD_PATH" \
    --change 'USER 99' \
    --change 'WORKDIR /var/lib/haproxy' \
    --change 'ENTRYPOINT []' \
    --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    --change "LABEL $LABEL_KEY=$RECIPE" \
    -)
  # STOPSIGNAL cannot be set with `docker import --change` on Engine 20.10.
  mkdir -p "$ctx"
  printf 'FROM %s\nSTOPSIGNAL SIGUSR1\n' "$id" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$HAPROXY" "$ctx" >/dev/null 2>"$WORK/build.err" || {
    cat "$WORK/build.err" >&2
    die "docker build (STOPSIGNAL layer) for $HAPROXY failed"
  }
  drop_old_image "$old" "$HAPROXY"
  log "built $HAPROXY"
}

BUILT=0
up_to_date "$WEB1" || { build_web v1 "$WEB1"; BUILT=1; }
up_to_date "$WEB2" || { build_web v2 "$WEB2"; BUILT=1; }
up_to_date "$CRASH" || { build_crash; BUILT=1; }
up_to_date "$SILENT" || { build_silent; BUILT=1; }
up_to_date "$HAPROXY" || { build_haproxy; BUILT=1; }
[[ $BUILT -eq 1 ]] || log "all images up to date"

# Earlier builds of ours that lost their tag but were still in use then.
for old in $("$DOCKER" images -q --filter dangling=true --filter "label=$LABEL_KEY" 2>/dev/null); do
  "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
done

if [[ $VERIFY == 0 || ($VERIFY == auto && $BUILT -eq 0) ]]; then
  exit 0
fi

# --------------------------------------------------------------------------
# Verification. Traffic goes only to containers created right here.
# --------------------------------------------------------------------------
log "verifying images"
SUF="$$-$RANDOM"
NET="vic-lb-test-verify-$SUF"
"$DOCKER" network create --driver bridge "$NET" >/dev/null
CREATED_NETWORKS+=("$NET")

run_detached() { # name image [docker run args...]
  local name=$1
  shift
  CREATED_CONTAINERS+=("$name")
  "$DOCKER" run -d --name "$name" --network "$NET" "$@" >/dev/null
}
ip_of() {
  "$DOCKER" inspect --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"
}
short_id() { "$DOCKER" inspect --format '{{.Id}}' "$1" | cut -c1-12; }
http_get() { curl -sS --noproxy '*' --max-time 3 "$1"; }
# wait_body URL REGEX SECONDS: poll until the body matches (bounded).
wait_body() {
  local url=$1 re=$2 deadline=$((SECONDS + $3)) body=""
  while ((SECONDS < deadline)); do
    body=$(http_get "$url" 2>/dev/null) || body=""
    if [[ $body =~ $re ]]; then return 0; fi
    sleep 0.3
  done
  echo "last answer from $url: '${body}'" >&2
  return 1
}
fail() {
  local c
  echo "[build-test-images] VERIFY FAILED: $*" >&2
  for c in "${CREATED_CONTAINERS[@]+"${CREATED_CONTAINERS[@]}"}"; do
    echo "--- logs of $c:" >&2
    "$DOCKER" logs --tail 30 "$c" >&2 2>&1 || true
  done
  exit 1
}
stop_timed() { # name -> prints "seconds exitcode"
  local t0 t1
  t0=$(date +%s%N)
  "$DOCKER" stop -t 10 "$1" >/dev/null
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000000000)) $("$DOCKER" inspect --format '{{.State.ExitCode}}' "$1")"
}

# web:1 on port 80, web:2 on PORT=8081.
W1="vic-lb-test-verify-web1-$SUF"
W2="vic-lb-test-verify-web2-$SUF"
run_detached "$W1" "$WEB1"
run_detached "$W2" -e PORT=8081 "$WEB2"
W1_IP=$(ip_of "$W1")
W2_IP=$(ip_of "$W2")
W1_ID=$(short_id "$W1")
W2_ID=$(short_id "$W2")
wait_body "http://$W1_IP:80/" "^web v1 $W1_ID\$" 15 || fail "$WEB1 does not serve 'web v1 $W1_ID'"
wait_body "http://$W2_IP:8081/" "^web v2 $W2_ID\$" 15 || fail "$WEB2 with PORT=8081 does not serve 'web v2 $W2_ID'"
log "ok: $WEB1 and $WEB2 (PORT=8081) serve their pages over bridge network $NET"

# crash:1 exits 3 with the message on stderr.
CR="vic-lb-test-verify-crash-$SUF"
CREATED_CONTAINERS+=("$CR")
set +e
"$DOCKER" run --name "$CR" --network none "$CRASH" >"$WORK/crash.out" 2>"$WORK/crash.err"
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "$CRASH exited $rc, want 3"
grep -q 'crash: failing on purpose' "$WORK/crash.err" || fail "$CRASH did not print its message to stderr"
log "ok: $CRASH exits 3 with 'crash: failing on purpose' on stderr"

# silent:1 keeps running, answers nothing, stops fast.
SI="vic-lb-test-verify-silent-$SUF"
run_detached "$SI" "$SILENT"
sleep 1
[[ $("$DOCKER" inspect --format '{{.State.Running}}' "$SI") == true ]] || fail "$SILENT is not running"
if http_get "http://$(ip_of "$SI"):80/" >/dev/null 2>&1; then fail "$SILENT answered HTTP"; fi
read -r secs code < <(stop_timed "$SI")
((secs < 5)) || fail "$SILENT took ${secs}s to stop"
log "ok: $SILENT runs, listens on nothing, stops in ${secs}s (exit $code)"

# haproxy:2.6 balancing web1 (by container name, via Docker's DNS) and web2 (by IP).
write_cfg() { # file extra-frontend-port(optional)
  cat >"$1" <<EOF
global
    log stdout format raw local0 notice
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind :8080
    default_backend be
backend be
    balance roundrobin
    server w1 $W1:80 check inter 1s
    server w2 $W2_IP:8081 check inter 1s
EOF
  if [[ -n ${2:-} ]]; then
    printf 'frontend fe_reloaded\n    bind :%s\n    default_backend be\n' "$2" >>"$1"
  fi
  chmod 0644 "$1"
}
HA="vic-lb-test-verify-haproxy-$SUF"
CREATED_CONTAINERS+=("$HA")
write_cfg "$WORK/haproxy.cfg"
"$DOCKER" create --name "$HA" --network "$NET" "$HAPROXY" >/dev/null
"$DOCKER" cp "$WORK/haproxy.cfg" "$HA:/usr/local/etc/haproxy/haproxy.cfg"
"$DOCKER" start "$HA" >/dev/null
HA_IP=$(ip_of "$HA")
wait_body "http://$HA_IP:8080/" '^web v[12] ' 20 || fail "$HAPROXY does not serve on :8080"
seen=""
for _ in 1 2 3 4 5 6; do seen+="$(http_get "http://$HA_IP:8080/")"$'\n'; done
if ! grep -q "^web v1 $W1_ID\$" <<<"$seen" || ! grep -q "^web v2 $W2_ID\$" <<<"$seen"; then
  fail "$HAPROXY did not balance over both backends; got: $seen"
fi
[[ $("$DOCKER" inspect --format '{{.Config.User}} {{.Config.StopSignal}}' "$HA") == "99 SIGUSR1" ]] ||
  fail "$HAPROXY: unexpected User/StopSignal"
[[ $("$DOCKER" top "$HA" -o pid,uid,args 2>/dev/null | awk 'NR>1 && $2 != "99"' | wc -l) -eq 0 ]] ||
  fail "$HAPROXY: a process does not run as uid 99"
PID1=$("$DOCKER" inspect --format '{{.State.Pid}}' "$HA")
log "ok: $HAPROXY balances over both web containers"

# Reload: new config with an extra frontend, USR2 to the master (PID 1).
write_cfg "$WORK/haproxy.cfg" 8082
"$DOCKER" cp "$WORK/haproxy.cfg" "$HA:/usr/local/etc/haproxy/haproxy.cfg"
"$DOCKER" kill -s USR2 "$HA" >/dev/null
wait_body "http://$HA_IP:8082/" '^web v[12] ' 20 || fail "$HAPROXY did not pick up the new config after USR2"
wait_body "http://$HA_IP:8080/" '^web v[12] ' 5 || fail "$HAPROXY stopped serving :8080 after USR2"
[[ $("$DOCKER" inspect --format '{{.State.Running}} {{.State.Pid}}' "$HA") == "true $PID1" ]] ||
  fail "$HAPROXY master was replaced or stopped by the reload"
log "ok: $HAPROXY reloads on USR2 and keeps serving"

# Graceful stop (SIGUSR1 soft-stop): quick, exit 0, not SIGKILLed.
read -r secs code < <(stop_timed "$HA")
((secs < 8)) || fail "$HAPROXY took ${secs}s to stop (SIGKILL after timeout?)"
[[ $code -eq 0 ]] || fail "$HAPROXY exited $code on docker stop, want 0"
log "ok: $HAPROXY stops gracefully on docker stop in ${secs}s (exit $code)"

read -r secs code < <(stop_timed "$W1")
if ((secs >= 5)) || [[ $code -ne 0 ]]; then fail "$WEB1 stop took ${secs}s, exit $code"; fi
log "ok: $WEB1 stops in ${secs}s (exit $code)"

log "all images verified"
