#!/usr/bin/env bash
# Minimal Debian root filesystems from Debian's archive (no registry):
# - bookworm, trixie: HAProxy, for each HAProxy branch the tests hold the action to (bookworm's 2.6
#   and trixie's 3.0). Each is the source of an image vic-lb-test/haproxy:<branch>
#   (scripts/build-test-images.sh) and of the host-side `haproxy -c` the unit tests run
#   (scripts/haproxy-2.6, scripts/haproxy-3.0), whatever distribution the host runs.
# - trixie-engines: trixie's Docker Engine and Podman, which scripts/setup-trixie-engines.sh runs
#   on this machine as further hosts to test against.
#
# Usage: scripts/debian-rootfs.sh ROOT...   (bookworm, trixie, trixie-engines; default: the first two)
# Each is made once into ${VIC_LB_ROOTFS_DIR:-/var/lib/vic-lb-test}/<root> with
# `debootstrap --variant=minbase --include=<its packages> <suite>`; a root that is complete (it
# carries the marker below) is left alone, so a second run takes no time. A run that was cut short
# leaves only a *.partial directory, which the next run replaces.
#
# Needs: root, debootstrap and Debian's archive keyring (apt-get install debootstrap
# debian-archive-keyring), Debian's archive over HTTP.
set -euo pipefail

DIR=${VIC_LB_ROOTFS_DIR:-/var/lib/vic-lb-test}
MIRROR=${VIC_LB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MARKER=.vic-lb-rootfs-complete
declare -A SUITE=([bookworm]=bookworm [trixie]=trixie [trixie-engines]=trixie)
# docker.io brings containerd, runc and iptables; podman brings conmon and netavark, which sets up
# port forwarding with `nft` (nftables) and name lookups on a network with aardvark-dns (both only
# recommended).
# Docker's GET /containers/{id}/top runs the root's `ps` (procps).
declare -A PACKAGES=([bookworm]=haproxy [trixie]=haproxy [trixie-engines]=docker.io,podman,runc,nftables,aardvark-dns,procps)
# The packages a root is made for, and the version branch expected of each.
declare -A CHECKS=([bookworm]='haproxy=2.6' [trixie]='haproxy=3.0' [trixie-engines]='docker.io=26.1 podman=5.4')

log() { echo "[debian-rootfs] $*"; }
die() { echo "[debian-rootfs] ERROR: $*" >&2; exit 1; }

make_root() {
  local name=$1 root=$DIR/$1 partial=$DIR/$1.partial suite=${SUITE[$1]:-} check package branch found versions=() started=$SECONDS
  [[ -n $suite ]] || die "unknown root '$name' (known: ${!SUITE[*]})"
  if [[ -f $root/$MARKER ]]; then
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
  local logfile=/var/log/vic-lb-debootstrap-$name.log
  log "debootstrap $suite (minbase + ${PACKAGES[$name]}) from $MIRROR into $root; log: $logfile"
  if ! debootstrap --variant=minbase --include="${PACKAGES[$name]}" --keyring="$KEYRING" "$suite" "$partial" "$MIRROR" >"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    die "debootstrap $suite failed (full log: $logfile)"
  fi
  # Only the programs and their libraries are used: drop what a root filesystem carries for people.
  rm -rf "$partial"/usr/share/{doc,man,info,locale} "$partial"/var/cache/apt/* "$partial"/var/lib/apt/lists/*
  for check in ${CHECKS[$name]}; do
    package=${check%=*} branch=${check#*=}
    found=$(dpkg-query --admindir="$partial/var/lib/dpkg" -W -f='${Version}' "$package")
    [[ ${found#*:} == "$branch".* ]] || die "expected $package $branch in $name, got '$found'"
    versions+=("$package $found")
  done
  echo "${versions[*]}" >"$partial/$MARKER"
  mv "$partial" "$root"
  exec 9>&-
  log "made $root with ${versions[*]} in $((SECONDS - started)) s"
}

(($#)) || set -- bookworm trixie
for name in "$@"; do make_root "$name"; done
