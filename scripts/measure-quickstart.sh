#!/usr/bin/env bash
# Times the quick start's parts as a fresh Debian 12 machine would run them, on this machine,
# without touching what runs here (README, "How long on a fresh machine"):
#   (a) apt-get update, download and install of the quick start's packages in a fresh
#       `debootstrap --variant=minbase bookworm` chroot (made once in DIR/pristine, copied for each
#       run; Debian 12's sources; no daemon started, so download and unpack);
#   (c) HAProxy's packages (debian-rootfs.sh bookworm-haproxy, in that chroot) and both images
#       built from scratch under the tags vic-lb-measure/*;
#   (d) the deploy of quickstart.sh and its request, as deployment 'qsmeasure' on port 18099,
#       torn down afterwards.
# (b), dockerd's first start, cannot be timed beside the running dockerd: read it from its log
# ("Starting up" to "API listen on"); it is 0.4 s on the machine the README's figures come from.
#
# Usage: scripts/measure-quickstart.sh [DIR]   (default /tmp/vic-lb-measure; as root, with a
# running dockerd, debootstrap and Node.js)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR=${1:-/tmp/vic-lb-measure}
PACKAGES=(docker.io busybox-static)
R=$DIR/run
[[ $(id -u) -eq 0 ]] || { echo "measure-quickstart: must run as root" >&2; exit 1; }

if [[ ! -f $DIR/pristine/.complete ]]; then
  rm -rf "$DIR/pristine"
  mkdir -p "$DIR"
  echo "making $DIR/pristine (debootstrap, once)"
  debootstrap --variant=minbase bookworm "$DIR/pristine" http://deb.debian.org/debian >"$DIR/debootstrap.log" 2>&1
  rm -f "$DIR/pristine/etc/apt/sources.list"
  cat >"$DIR/pristine/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  printf '#!/bin/sh\nexit 101\n' >"$DIR/pristine/usr/sbin/policy-rc.d"
  chmod 0755 "$DIR/pristine/usr/sbin/policy-rc.d"
  touch "$DIR/pristine/.complete"
fi

TOTAL=0
exec 3>&1 # part's report, whatever its command's output is redirected to
part() { # LABEL COMMAND...
  local label=$1 start=$EPOCHREALTIME took
  shift
  "$@"
  took=$(bc <<<"$EPOCHREALTIME - $start")
  TOTAL=$(bc <<<"$TOTAL + $took")
  printf '%-26s %6.1f s\n' "$label" "$took" >&3
}
cleanup() {
  node dist/index.js teardown --instance-prefix qsmeasure >/dev/null 2>&1 || true
  # The load-balancer's container can take a moment to go after the teardown.
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    docker rmi vic-lb-measure/web:1 vic-lb-measure/haproxy:2.6 >/dev/null 2>&1 || true
    docker image inspect vic-lb-measure/web:1 >/dev/null 2>&1 || docker image inspect vic-lb-measure/haproxy:2.6 >/dev/null 2>&1 || break
    sleep 1
  done
  rm -rf "$R"
}
trap cleanup EXIT
cleanup
cp -a "$DIR/pristine" "$R"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
part '(a) apt-get update' chroot "$R" apt-get update -qq
part '(a) download' chroot "$R" apt-get install -y -qq --download-only --no-install-recommends "${PACKAGES[@]}" >/dev/null
part '(a) install' chroot "$R" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$DIR/apt.log" 2>&1
echo "    $(grep -c '^Unpacking' "$DIR/apt.log") packages"
mkdir -p "$R/tmp/scripts"
cp scripts/debian-rootfs.sh "$R/tmp/scripts/"
part '(c) HAProxy packages' chroot "$R" env VIC_LB_ROOTFS_DIR=/tmp/roots bash /tmp/scripts/debian-rootfs.sh bookworm-haproxy >/dev/null
part '(c) images from scratch' env VIC_LB_ROOTFS_DIR="$R/tmp/roots" VIC_LB_TEST_IMAGE_REPO=vic-lb-measure \
  bash scripts/build-test-images.sh --quickstart >/dev/null
part '(d) deploy' node dist/index.js deploy --image vic-lb-measure/web:1 --haproxy-image vic-lb-measure/haproxy:2.6 \
  --instances 3 --external-network= --lb-port 18099 --instance-prefix qsmeasure --lb-name qsmeasure-lb --pull missing >/dev/null
part '(d) request' node -e 'fetch("http://127.0.0.1:18099/", { signal: AbortSignal.timeout(5000) }).then(async (r) => { if (!r.ok) process.exit(1); await r.text() })'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'total without (b): %.1f s\n' "$TOTAL"
