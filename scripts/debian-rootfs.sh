#!/usr/bin/env bash
# A minimal Debian root filesystem with HAProxy, from Debian's archive (no registry), for each
# HAProxy branch the tests hold the action to: bookworm's 2.6 and trixie's 3.0. Each is the source
# of an image vic-lb-test/haproxy:<branch> (scripts/build-test-images.sh) and of the host-side
# `haproxy -c` the unit tests run (scripts/haproxy-2.6, scripts/haproxy-3.0), whatever distribution
# the host runs.
#
# Usage: scripts/debian-rootfs.sh SUITE...   (bookworm, trixie; default: both)
# Each is made once into ${VIC_LB_ROOTFS_DIR:-/var/lib/vic-lb-test}/<suite> with
# `debootstrap --variant=minbase --include=haproxy <suite>`; a root that is complete (it carries
# the marker below) is left alone, so a second run takes no time. A run that was cut short leaves
# only a *.partial directory, which the next run replaces.
#
# Needs: root, debootstrap and Debian's archive keyring (apt-get install debootstrap
# debian-archive-keyring), Debian's archive over HTTP.
set -euo pipefail

DIR=${VIC_LB_ROOTFS_DIR:-/var/lib/vic-lb-test}
MIRROR=${VIC_LB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MARKER=.vic-lb-rootfs-complete
declare -A BRANCH=([bookworm]=2.6 [trixie]=3.0)

log() { echo "[debian-rootfs] $*"; }
die() { echo "[debian-rootfs] ERROR: $*" >&2; exit 1; }

make_root() {
  local suite=$1 root=$DIR/$1 partial=$DIR/$1.partial version started=$SECONDS
  [[ -n ${BRANCH[$suite]:-} ]] || die "unknown suite '$suite' (known: ${!BRANCH[*]})"
  if [[ -f $root/$MARKER && -x $root/usr/sbin/haproxy ]]; then
    log "$root is complete ($(cat "$root/$MARKER"))"
    return
  fi
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
  [[ -f $KEYRING ]] || die "$KEYRING not found (apt-get install debian-archive-keyring)"
  mkdir -p "$DIR"
  exec 9>"$root.lock"
  flock -w 1200 9 || die "could not take $root.lock"
  # Another run may have finished it while we waited for the lock.
  if [[ -f $root/$MARKER ]]; then return; fi
  rm -rf "$partial" "$root"
  log "debootstrap $suite (minbase + haproxy) from $MIRROR into $root; log: /var/log/vic-lb-debootstrap-$suite.log"
  if ! debootstrap --variant=minbase --include=haproxy --keyring="$KEYRING" "$suite" "$partial" "$MIRROR" >"/var/log/vic-lb-debootstrap-$suite.log" 2>&1; then
    tail -n 30 "/var/log/vic-lb-debootstrap-$suite.log" >&2
    die "debootstrap $suite failed (full log: /var/log/vic-lb-debootstrap-$suite.log)"
  fi
  # Only the binary and its libraries are used: drop what a root filesystem carries for people.
  rm -rf "$partial"/usr/share/{doc,man,info,locale} "$partial"/var/cache/apt/* "$partial"/var/lib/apt/lists/*
  version=$(chroot "$partial" /usr/sbin/haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')
  [[ $version == "${BRANCH[$suite]}".* ]] || die "expected HAProxy ${BRANCH[$suite]} in $suite, got '$version'"
  echo "haproxy $version" >"$partial/$MARKER"
  mv "$partial" "$root"
  exec 9>&-
  log "made $root with HAProxy $version in $((SECONDS - started)) s"
}

(($#)) || set -- bookworm trixie
for suite in "$@"; do make_root "$suite"; done
