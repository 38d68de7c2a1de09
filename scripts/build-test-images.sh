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
#   vic-lb-test/traffic:1  the host's node binary (with the shared libraries
#                          ldd names) and a small node:http server on $PORT
#                          (default 80): GET /headers echoes the request's
#                          headers and HTTP version as JSON, /events is a
#                          server-sent event stream (a tick every ?every=
#                          seconds), /slow?s=N answers after N seconds, and a
#                          websocket upgrade on any path echoes text frames.
#                          For the tests of real traffic (headers, websockets,
#                          SSE, long requests) through the load-balancer.
#   vic-lb-test/haproxy:2.6
#   vic-lb-test/haproxy:3.0
#                          HAProxy 2.6 (Debian bookworm's) and 3.0 (Debian
#                          trixie's), from the root filesystems scripts/debian-
#                          rootfs.sh makes (2.6: bookworm, or bookworm-haproxy
#                          with --quickstart), each with just the shared libraries
#                          it needs, laid out like the official `haproxy` image
#                          (2.4+): config /usr/local/etc/haproxy/haproxy.cfg,
#                          runs as uid/gid 99 ("haproxy"), WORKDIR
#                          /var/lib/haproxy (owned by 99), STOPSIGNAL SIGUSR1,
#                          default command `haproxy -W -db -f .../haproxy.cfg`
#                          (master-worker, master is PID 1, `kill -s USR2`
#                          reloads). The load balancer the action deploys. No
#                          shell in it.
#
# Idempotent and fast: each image carries a label with a hash of its recipe (the
# functions that build it and the Debian binaries it is made from); an image
# whose label matches is left alone. The e2e suite checks that the images behave
# (__tests__/e2e/test-images.test.ts).
#
# Usage: scripts/build-test-images.sh [--force] [--quickstart]
#   --force      rebuild every image even if it is up to date
#   --quickstart only what the quick start deploys: web:1 and haproxy:2.6,
#                the latter from the files of the root bookworm-haproxy (no
#                debootstrap; the same binary and libraries, the same image)
# VIC_LB_TEST_IMAGE_REPO names the images' repository (default vic-lb-test),
# e.g. to time a build from scratch without touching the images in use.
# Needs: root, a running dockerd, busybox-static, and the Debian root
# filesystems (scripts/debian-rootfs.sh; bookworm-haproxy alone with
# --quickstart).
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
ROOTFS_DIR=${VIC_LB_ROOTFS_DIR:-/var/lib/vic-lb-test}
LABEL_KEY=vic-lb-test.recipe
STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

REPO=${VIC_LB_TEST_IMAGE_REPO:-vic-lb-test}
WEB1=$REPO/web:1
WEB2=$REPO/web:2
CRASH=$REPO/crash:1
SILENT=$REPO/silent:1
TRAFFIC=$REPO/traffic:1
NODE=${NODE:-$(command -v node || true)}
HAPROXY26=$REPO/haproxy:2.6
HAPROXY30=$REPO/haproxy:3.0

FORCE=0
QUICKSTART=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --quickstart) QUICKSTART=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    *) echo "build-test-images: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[build-test-images] $*"; }
die() { echo "[build-test-images] ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (image root filesystems need uid 0/99 ownership)"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
"$BUSYBOX" --list | grep -x httpd >/dev/null || die "$BUSYBOX has no httpd applet (need busybox-static)"
[[ -x $NODE ]] || die "node not found (the traffic image copies the host's node binary)"
SUITES=(bookworm trixie)
((QUICKSTART == 0)) || SUITES=(bookworm-haproxy)
for suite in "${SUITES[@]}"; do
  [[ -x $ROOTFS_DIR/$suite/usr/sbin/haproxy ]] || die "no HAProxy in $ROOTFS_DIR/$suite (run scripts/debian-rootfs.sh $suite)"
done
"$DOCKER" info >/dev/null 2>&1 || die "cannot talk to the Docker daemon (run scripts/start-docker.sh)"

# One instance at a time (parallel test set-ups may call this concurrently).
exec 9>/tmp/vic-lb-build-test-images.lock
flock -w 600 9 || die "could not take /tmp/vic-lb-build-test-images.lock"

WORK=$(mktemp -d /tmp/vic-lb-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# up_to_date TAG RECIPE: the image exists and was built from this recipe.
up_to_date() {
  local tag=$1 have
  [[ $FORCE -eq 0 ]] || return 1
  have=$("$DOCKER" image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "$tag" 2>/dev/null) || return 1
  [[ $have == "$2" ]]
}

# recipe FILE... : hash of the functions that build an image (declared below) and of the files
# copied into it.
recipe() {
  { declare -f "${RECIPE_FUNCTIONS[@]}"; echo "$STD_PATH"; cat "$@"; } | sha256sum | cut -c1-32
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
    --change "LABEL $LABEL_KEY=$BUSYBOX_RECIPE" \
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

# copy_with_libraries BINARY ROOT: BINARY into ROOT at the same path, with every shared library
# the host's ldd names for it (dereferenced) and the dynamic loader.
copy_with_libraries() {
  local bin=$1 root=$2 lib
  mkdir -p "$root$(dirname "$bin")"
  install -m 0755 "$bin" "$root$bin"
  while read -r lib; do
    [[ -n $lib ]] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
}

build_traffic() {
  local root="$WORK/traffic" old
  make_busybox_rootfs "$root"
  copy_with_libraries "$NODE" "$root"
  cat >"$root/usr/local/bin/traffic-server.js" <<'EOF'
// vic-lb-test traffic image: what a web application behind the load-balancer sees and keeps open.
'use strict'
const http = require('node:http')
const crypto = require('node:crypto')
const os = require('node:os')

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://instance')
  if (url.pathname === '/headers') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ instance: os.hostname(), httpVersion: req.httpVersion, remoteAddress: req.socket.remoteAddress, headers: req.headers }))
  } else if (url.pathname === '/slow') {
    const seconds = Number(url.searchParams.get('s') || 1)
    const timer = setTimeout(() => res.end(`slow ${seconds}s\n`), seconds * 1000)
    res.on('close', () => clearTimeout(timer))
  } else if (url.pathname === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    let tick = 0
    const timer = setInterval(() => res.write(`data: tick ${++tick}\n\n`), Number(url.searchParams.get('every') || 1) * 1000)
    res.on('close', () => clearInterval(timer))
  } else {
    res.end(`traffic ${os.hostname()}\n`)
  }
})
// Longer than the load-balancer's keep-alive to it, so that it never sends on a connection closing here.
server.keepAliveTimeout = 75000

// A minimal websocket (RFC 6455): text and binary frames up to 64 KiB are echoed, pings answered.
server.on('upgrade', (req, socket) => {
  const key = req.headers['sec-websocket-key']
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !key) return socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')
  const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
  let buffer = Buffer.alloc(0)
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    while (buffer.length >= 2) {
      const opcode = buffer[0] & 0x0f
      const masked = (buffer[1] & 0x80) !== 0
      let length = buffer[1] & 0x7f
      let offset = 2
      if (length === 127) return socket.destroy()
      if (length === 126) {
        if (buffer.length < 4) return
        length = buffer.readUInt16BE(2)
        offset = 4
      }
      const mask = offset
      if (masked) offset += 4
      if (buffer.length < offset + length) return
      const payload = Buffer.from(buffer.subarray(offset, offset + length))
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= buffer[mask + (i % 4)]
      buffer = buffer.subarray(offset + length)
      if (opcode === 0x8) return socket.end(frame(0x8, Buffer.alloc(0)))
      if (opcode === 0x9) socket.write(frame(0xa, payload))
      else if (opcode === 0x1 || opcode === 0x2) socket.write(frame(opcode, payload))
    }
  })
})

function frame(opcode, payload) {
  const head = payload.length < 126 ? Buffer.from([0x80 | opcode, payload.length]) : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff])
  return Buffer.concat([head, payload])
}

// As PID 1, node gets no SIGTERM unless it handles it: docker stop would wait out its timeout.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
server.listen(Number(process.env.PORT || 80))
EOF
  old=$(old_image_id "$TRAFFIC")
  pack_rootfs "$root" | "$DOCKER" import \
    --change "ENV PATH=$STD_PATH" \
    --change 'WORKDIR /' \
    --change "LABEL $LABEL_KEY=$TRAFFIC_RECIPE" \
    --change 'EXPOSE 80/tcp' \
    --change "CMD [\"$NODE\", \"/usr/local/bin/traffic-server.js\"]" \
    - "$TRAFFIC" >/dev/null
  drop_old_image "$old" "$TRAFFIC"
  log "built $TRAFFIC"
}

# root_path ROOT PATH: PATH in the root filesystem ROOT as a path on this host, its symbolic links
# resolved inside ROOT (an absolute one, such as /lib64/ld-linux-x86-64.so.2's, must not lead to
# this host's file).
root_path() {
  local root=$1 path=$2 target n=0
  while [[ -L $root$path ]]; do
    target=$(readlink "$root$path")
    [[ $target == /* ]] || target=$(dirname "$path")/$target
    path=$target
    ((++n < 40)) || die "too many symbolic links at $1$2"
  done
  echo "$root$path"
}

# root_libraries ROOT BINARY: every shared library BINARY needs, as ROOT's own dynamic loader
# resolves them in ROOT (a root without ldd or a shell will do), and the loader; one path a line.
root_libraries() {
  local list
  list=$(chroot "$1" /lib64/ld-linux-x86-64.so.2 --list "$2") || die "cannot list the libraries of $1$2"
  ! grep 'not found' <<<"$list" >&2 || die "libraries of $1$2 not found in $1"
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$list" | sort -u
}

# build_haproxy TAG ROOT BINARY: the image TAG from HAProxy at BINARY inside the root filesystem
# ROOT (a debootstrapped root or the files of bookworm-haproxy, scripts/debian-rootfs.sh), with
# the libraries it needs there. The recipe covers the binary and the libraries, so a root of either
# kind that holds the same files gives an image that is up to date.
build_haproxy() {
  local tag=$1 from=$2 bin=$3 root="$WORK/haproxy" lib libs old id ctx="$WORK/haproxy-ctx" recipe
  rm -rf "$root" "$ctx"
  libs=$(root_libraries "$from" "$bin")
  [[ $libs == *ld-linux* ]] || die "dynamic loader not found in the libraries of $from$bin"
  # shellcheck disable=SC2046
  recipe=$(recipe "$from$bin" $(for lib in $libs; do root_path "$from" "$lib"; done))
  if up_to_date "$tag" "$recipe"; then return 0; fi
  mkdir -p "$root"/{usr/local/sbin,etc,dev,proc,sys,run}
  install -m 0755 "$from$bin" "$root/usr/local/sbin/haproxy"
  # Every shared library haproxy needs, at the path the loader resolves it to (dereferenced in
  # the root), and the dynamic loader (the ELF interpreter path).
  for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp "$(root_path "$from" "$lib")" "$root$lib"
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nhaproxy:x:99:99:haproxy:/var/lib/haproxy:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nhaproxy:x:99:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  install -d -m 0755 "$root/usr/local/etc/haproxy"
  install -d -m 0755 -o 99 -g 99 "$root/var/lib/haproxy"
  install -d -m 1777 "$root/tmp"
  chmod 0755 "$root/run"

  old=$(old_image_id "$tag")
  id=$(pack_rootfs "$root" | "$DOCKER" import \
    --change "ENV PATH=$STD_PATH" \
    --change 'USER 99' \
    --change 'WORKDIR /var/lib/haproxy' \
    --change 'ENTRYPOINT []' \
    --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    --change "LABEL $LABEL_KEY=$recipe" \
    -)
  # STOPSIGNAL cannot be set with `docker import --change` on Engine 20.10.
  mkdir -p "$ctx"
  printf 'FROM %s\nSTOPSIGNAL SIGUSR1\n' "$id" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$tag" "$ctx" >/dev/null 2>"$WORK/build.err" || {
    cat "$WORK/build.err" >&2
    die "docker build (STOPSIGNAL layer) for $tag failed"
  }
  "$DOCKER" rmi "$id" >/dev/null 2>&1 || true
  drop_old_image "$old" "$tag"
  log "built $tag"
  BUILT=1
}

BUILT=0
RECIPE_FUNCTIONS=(pack_rootfs make_busybox_rootfs import_busybox_image build_web build_crash build_silent)
BUSYBOX_RECIPE=$(recipe "$BUSYBOX")
up_to_date "$WEB1" "$BUSYBOX_RECIPE" || { build_web v1 "$WEB1"; BUILT=1; }
if ((QUICKSTART)); then
  RECIPE_FUNCTIONS=(pack_rootfs root_path root_libraries build_haproxy)
  build_haproxy "$HAPROXY26" "$ROOTFS_DIR/bookworm-haproxy" /usr/sbin/haproxy
  [[ $BUILT -eq 1 ]] || log "the quick start's images are up to date"
  exit 0
fi
up_to_date "$WEB2" "$BUSYBOX_RECIPE" || { build_web v2 "$WEB2"; BUILT=1; }
up_to_date "$CRASH" "$BUSYBOX_RECIPE" || { build_crash; BUILT=1; }
up_to_date "$SILENT" "$BUSYBOX_RECIPE" || { build_silent; BUILT=1; }
RECIPE_FUNCTIONS=(pack_rootfs make_busybox_rootfs copy_with_libraries build_traffic)
TRAFFIC_RECIPE=$(recipe "$BUSYBOX" "$NODE")
up_to_date "$TRAFFIC" "$TRAFFIC_RECIPE" || { build_traffic; BUILT=1; }
RECIPE_FUNCTIONS=(pack_rootfs root_path root_libraries build_haproxy)
build_haproxy "$HAPROXY26" "$ROOTFS_DIR/bookworm" /usr/sbin/haproxy
build_haproxy "$HAPROXY30" "$ROOTFS_DIR/trixie" /usr/sbin/haproxy
[[ $BUILT -eq 1 ]] || log "all images up to date"

# Earlier builds of ours that lost their tag but were still in use then.
for old in $("$DOCKER" images -q --filter dangling=true --filter "label=$LABEL_KEY" 2>/dev/null); do
  "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
done
