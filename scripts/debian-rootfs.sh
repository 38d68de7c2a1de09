#!/usr/bin/env bash
# Minimal Debian root filesystems from Debian's archive (no registry):
# - bookworm, trixie: HAProxy, for each HAProxy branch the tests hold the action to (bookworm's 2.6
#   and trixie's 3.0). Each is the source of an image vic-lb-test/haproxy:<branch>
#   (scripts/build-test-images.sh) and of the host-side `haproxy -c` the unit tests run
#   (scripts/haproxy-2.6, scripts/haproxy-3.0), whatever distribution the host runs.
# - trixie-engines: trixie's Docker Engine and Podman, which scripts/setup-trixie-engines.sh runs
#   on this machine as further hosts to test against.
# - bookworm-haproxy: no debootstrap, no shell: bookworm's haproxy package and the library packages
#   it runs with, fetched with this host's apt (`apt-get download <package>/bookworm`: the versions
#   debootstrap takes for the bookworm root) and unpacked with dpkg-deb into a merged-/usr tree (no
#   maintainer script runs). The quick start's source of vic-lb-test/haproxy:2.6: about 10 MB and
#   seconds where the bookworm root takes half a minute, and the image made from it is the same.
#   Needs a Debian host whose apt sources carry bookworm.
#
# Usage: scripts/debian-rootfs.sh ROOT...   (bookworm, trixie, trixie-engines, bookworm-haproxy;
#   default: the first two)
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
declare -A SUITE=([bookworm]=bookworm [trixie]=trixie [trixie-engines]=trixie [bookworm-haproxy]=bookworm)
# bookworm-haproxy: haproxy and the packages of every library `ld.so --list /usr/sbin/haproxy`
# names in the bookworm root (the root is checked to lack none).
HAPROXY_PACKAGES=(haproxy libc6 libcrypt1 libssl3 liblua5.3-0 libsystemd0 libpcre2-8-0
  libopentracing-c-wrapper0 libopentracing1 libcap2 libgcrypt20 libgpg-error0 liblzma5 libzstd1
  liblz4-1 libstdc++6 libgcc-s1)
# docker.io brings containerd, runc and iptables; podman brings conmon and netavark, which sets up
# port forwarding with `nft` (nftables) and name lookups on a network with aardvark-dns (both only
# recommended).
# Docker's GET /containers/{id}/top runs the root's `ps` (procps).
declare -A PACKAGES=([bookworm]=haproxy [trixie]=haproxy [trixie-engines]=docker.io,podman,runc,nftables,aardvark-dns,procps)
# The packages a root is made for, and the version branch expected of each.
declare -A CHECKS=([bookworm]='haproxy=2.6' [trixie]='haproxy=3.0' [trixie-engines]='docker.io=26.1 podman=5.4'
  [bookworm-haproxy]='haproxy=2.6')

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
  if [[ $name != bookworm-haproxy ]]; then
    command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
    [[ -f $KEYRING ]] || die "$KEYRING not found (apt-get install debian-archive-keyring)"
  fi
  mkdir -p "$DIR"
  exec 9>"$root.lock"
  flock -w 1200 9 || die "could not take $root.lock"
  # Another run may have finished it while we waited for the lock.
  if [[ -f $root/$MARKER ]]; then return; fi
  rm -rf "$partial" "$root"
  if [[ $name == bookworm-haproxy ]]; then
    unpack_haproxy "$suite" "$partial"
    mv "$partial" "$root"
    exec 9>&-
    log "made $root with $(cat "$root/$MARKER") in $((SECONDS - started)) s"
    return
  fi
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

# unpack_haproxy SUITE DIR: SUITE's haproxy and the library packages it runs with, unpacked in DIR.
unpack_haproxy() {
  local suite=$1 dir=$2 debs=$2.debs d deb version missing
  command -v apt-get >/dev/null || die "apt-get not found (a Debian host is needed)"
  mkdir -p "$dir"/usr/{bin,sbin,lib,lib64}
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$dir/$d"; done
  rm -rf "$debs"
  mkdir -p "$debs"
  log "apt-get download ${HAPROXY_PACKAGES[*]} (from $suite) and unpack them into $dir"
  # As root, apt would warn that its sandbox user cannot write here; lists a fresh machine lacks (or
  # stale ones) make the download fail: update them once.
  download() { (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${HAPROXY_PACKAGES[@]/%//$suite}"); }
  download 2>/dev/null || { apt-get update -qq && download; } || die "apt-get download failed"
  for deb in "$debs"/*.deb; do
    # --keep-directory-symlink: /lib and the others stay links into /usr, as in a debootstrapped root.
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$dir"
  done
  version=$(dpkg-deb -f "$debs"/haproxy_*.deb Version)
  rm -rf "$debs" "$dir"/usr/share/{doc,man,info,locale}
  [[ ${version#*:} == "${CHECKS[bookworm-haproxy]#*=}".* ]] || die "expected ${CHECKS[bookworm-haproxy]/=/ } in $suite, got '$version'"
  missing=$(chroot "$dir" /lib64/ld-linux-x86-64.so.2 --list /usr/sbin/haproxy | grep 'not found' || true)
  [[ -z $missing ]] || die "libraries haproxy needs are not in ${HAPROXY_PACKAGES[*]}: $missing"
  echo "haproxy $version" >"$dir/$MARKER"
}

(($#)) || set -- bookworm trixie
for name in "$@"; do make_root "$name"; done
