#!/usr/bin/env bash
# Prepares this machine (Debian 12, as root) for running and testing the action: Debian packages,
# a Docker engine (a running one is left as it is), the test certificates, Debian bookworm and
# trixie roots with HAProxy 2.6 and 3.0, the offline test images, Podman's Docker API with those
# images, trixie's Docker Engine 26.1 and Podman 5.4 (from a trixie root, each in a network
# namespace of its own, with those images), the npm dependencies and the bundle. Safe to run
# again: each step is quick when done; a step that fails stops it with a non-zero status.
#
# Usage: scripts/setup.sh [--quickstart]
#   --quickstart only what the quick start's deploy needs: a Docker engine (docker.io without its
#                recommended packages), busybox-static, bookworm's HAProxy 2.6 unpacked
#                from its packages (no debootstrap) and the images vic-lb-test/web:1 and
#                vic-lb-test/haproxy:2.6 (dist/ is committed, so no npm install or build). The
#                test command sets up the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
# needrestart (recommended by docker.io) must not try to restart anything.
export NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1

QUICKSTART=0
case "${1:-}" in
  '') ;;
  --quickstart) QUICKSTART=1 ;;
  *) echo "setup.sh: unknown argument '$1' (known: --quickstart)" >&2; exit 2 ;;
esac

step() { printf '\n== %s\n' "$*"; }

# Each Debian package, and the command or file that shows it (or an equivalent, such as docker-ce
# on a GitHub-hosted runner) is already there.
declare -A APT_PACKAGES=([docker.io]=dockerd [busybox-static]=busybox)
# iproute2 (ip netns), util-linux (nsenter, unshare) and procps (ps) for the trixie engines.
((QUICKSTART)) || APT_PACKAGES+=([curl]=curl [debootstrap]=debootstrap
  [debian-archive-keyring]=/usr/share/keyrings/debian-archive-keyring.gpg
  [openssl]=openssl [podman]=podman [stunnel4]=stunnel [tcpdump]=tcpdump
  [iproute2]=ip [util-linux]=nsenter [procps]=ps)
# The quick start takes no recommended package (docker.io's are git, xz-utils, needrestart,
# ca-certificates, cgroupfs-mount, apparmor): fewer to fetch and unpack. Of those, dockerd needs
# only apparmor, and only on a kernel with AppArmor on (it confines each container with its
# profile), so then it is asked for by name.
APT_OPTIONS=()
if ((QUICKSTART)); then
  APT_OPTIONS+=(--no-install-recommends)
  if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]]; then
    APT_PACKAGES+=([apparmor]=apparmor_parser)
  fi
fi
step "Debian packages: ${!APT_PACKAGES[*]}"
missing=()
for p in "${!APT_PACKAGES[@]}"; do
  command -v "${APT_PACKAGES[$p]}" >/dev/null || [[ -e ${APT_PACKAGES[$p]} ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "all installed"
else
  apt-get update -qq || { sleep 5; apt-get update -qq; }
  # Keep the packages' maintainer scripts from starting daemons: start-docker.sh starts dockerd
  # when none runs.
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  apt-get install -y -qq "${APT_OPTIONS[@]}" "${missing[@]}" >/tmp/vic-lb-apt.log 2>&1 || {
    tail -n 50 /tmp/vic-lb-apt.log
    echo "apt-get install failed" >&2
    exit 1
  }
  ((policy_added == 0)) || rm -f /usr/sbin/policy-rc.d
  echo "installed: ${missing[*]}"
fi

step "Docker engine"
scripts/start-docker.sh

if ((QUICKSTART)); then
  step "HAProxy 2.6 (bookworm's packages, unpacked)"
  scripts/debian-rootfs.sh bookworm-haproxy
  step "The quick start's images"
  scripts/build-test-images.sh --quickstart
  exit 0
fi

step "Test certificates (the e2e suite's TLS endpoint)"
scripts/make-test-certs.sh

step "Debian roots with HAProxy 2.6 (bookworm) and 3.0 (trixie)"
scripts/debian-rootfs.sh

step "Offline test images"
scripts/build-test-images.sh

step "Podman's Docker API"
scripts/setup-podman.sh

step "trixie's Docker Engine 26.1 and Podman 5.4 (the trixie-engines root)"
scripts/setup-trixie-engines.sh docker podman

step "npm dependencies"
if [[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
  echo "up to date"
else
  npm ci
fi

step "Bundle (dist/)"
npm run build
