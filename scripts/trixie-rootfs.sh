#!/usr/bin/env bash
# A minimal Debian trixie root filesystem with HAProxy 3.0, from Debian's archive (no registry):
# the source of the vic-lb-test/haproxy:3.0 image (scripts/build-test-images.sh) and of the
# host-side `haproxy -c` of 3.0 the unit tests run (scripts/haproxy-3.0).
#
# Made once into ${VIC_LB_TRIXIE_ROOT:-/var/lib/vic-lb-test/trixie} with
# `debootstrap --variant=minbase --include=haproxy trixie`; a root that is complete (it carries
# the marker below) is left alone, so a second run takes no time. A run that was cut short
# leaves only a *.partial directory, which the next run removes.
#
# Needs: root, debootstrap (apt-get install debootstrap), Debian's archive over HTTP.
set -euo pipefail

ROOT=${VIC_LB_TRIXIE_ROOT:-/var/lib/vic-lb-test/trixie}
MIRROR=${VIC_LB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MARKER=.vic-lb-trixie-complete

log() { echo "[trixie-rootfs] $*"; }
die() { echo "[trixie-rootfs] ERROR: $*" >&2; exit 1; }

if [[ -f $ROOT/$MARKER && -x $ROOT/usr/sbin/haproxy ]]; then
  log "$ROOT is complete ($(cat "$ROOT/$MARKER"))"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "must run as root"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"

mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -w 1200 9 || die "could not take $ROOT.lock"
# Another run may have finished it while we waited for the lock.
if [[ -f $ROOT/$MARKER ]]; then exit 0; fi

partial=$ROOT.partial
rm -rf "$partial" "$ROOT"
log "debootstrap trixie (minbase + haproxy) from $MIRROR into $ROOT; log: /var/log/vic-lb-debootstrap.log"
started=$SECONDS
if ! debootstrap --variant=minbase --include=haproxy trixie "$partial" "$MIRROR" >/var/log/vic-lb-debootstrap.log 2>&1; then
  tail -n 30 /var/log/vic-lb-debootstrap.log >&2
  die "debootstrap failed (full log: /var/log/vic-lb-debootstrap.log)"
fi
# Only the binary and its libraries are used: drop what a root filesystem carries for people.
rm -rf "$partial"/usr/share/{doc,man,info,locale} "$partial"/var/cache/apt/* "$partial"/var/lib/apt/lists/*
version=$(chroot "$partial" /usr/sbin/haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')
[[ $version == 3.0.* ]] || die "expected HAProxy 3.0 in trixie, got '$version'"
echo "haproxy $version" >"$partial/$MARKER"
mv "$partial" "$ROOT"
log "made $ROOT with HAProxy $version in $((SECONDS - started)) s"
