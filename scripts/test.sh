#!/usr/bin/env bash
# Runs every test: the type check, lint (eslint, prettier, no import cycles) and the unit tests once, then the end-to-end suite once per host
# and HAProxy branch the action supports:
#   dockerd 20.10 + HAProxy 2.6  the whole suite, with the VCH stand-in and the API 1.44-only mode
#   dockerd 20.10 + HAProxy 3.0  the files whose outcome depends on HAProxy's version (HAPROXY_CORE)
#   Podman 4.3 + HAProxy 3.0     the files whose outcome depends on the host (HOST_CORE), through
#                                Podman's Docker API
#   trixie's Docker Engine 26.1 + HAProxy 3.0, and trixie's Podman 5.4 + HAProxy 3.0
#                                the core (TRIXIE_CORE: deploy, redeploy under load, scale,
#                                concurrency, teardown) on the newest engines Debian ships, each
#                                run in its engine's network namespace, where the engine publishes
#                                its ports (scripts/setup-trixie-engines.sh)
#   (Debian 12's engines are this machine's own; trixie's run from a trixie root.)
# one after another: the load tests assert zero failed requests on two cores, and two suites at
# once would make them measure each other (every leg has redeploy.test.ts, which does, so the two
# trixie legs are serial too, though they share no engine). The whole suite runs once; each other
# leg runs its own core, so the matrix stays within CI's time. Each suite is its own vitest run. A
# failed suite does not stop the others; the summary names each one, and the exit status is
# non-zero if any failed. A host that is not there fails its leg, never skips it: a trixie leg
# fails when its engine does not answer as the version it names, or when the suite leaves a
# container or network on it.
# Prepares the machine first (quick when already done), so it works on a fresh one.
# Logs: ${VIC_LB_TEST_LOGS:-/tmp/vic-lb-test-logs}/<suite>.log
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh

LOGS=${VIC_LB_TEST_LOGS:-/tmp/vic-lb-test-logs}
mkdir -p "$LOGS"
PODMAN=unix:///run/vic-lb-podman/podman.sock
E2E=__tests__/e2e
# What HAProxy does with traffic: the generated configuration, health checks, reloads and drains,
# TLS at the load-balancer, scaling behind one load-balancer.
HAPROXY_CORE=($E2E/deploy.test.ts $E2E/redeploy.test.ts $E2E/load.test.ts $E2E/traffic.test.ts
  $E2E/keep-alive.test.ts $E2E/exposure.test.ts $E2E/lifecycle.test.ts $E2E/protection.test.ts)
# What the host does: deploy, redeploy under load, scale, concurrency (lock and lease), teardown,
# cancellation and failures (its process list, events, errors and port publishing), the release
# command (a one-off container: wait, logs, removal), companion services (network aliases, volumes)
# and a shared ingress (its network joined before start, reloads under its lock).
HOST_CORE=($E2E/deploy.test.ts $E2E/redeploy.test.ts $E2E/load.test.ts $E2E/lifecycle.test.ts
  $E2E/lease.test.ts $E2E/cancel.test.ts $E2E/keep-alive.test.ts $E2E/failures.test.ts $E2E/exposure.test.ts $E2E/protection.test.ts
  $E2E/release.test.ts $E2E/services.test.ts $E2E/ingress.test.ts)
# The newest engines Debian ships (trixie): deploy and scale 3 -> 5 -> 2 and teardown (deploy),
# redeploy under load with no failed request (redeploy), concurrency: two runs of one deployment,
# a dead run's lock, teardown with the lock (lifecycle) and the lease (lease).
TRIXIE_CORE=($E2E/deploy.test.ts $E2E/redeploy.test.ts $E2E/lifecycle.test.ts $E2E/lease.test.ts)

names=()
results=()
failed=0

# run_suite NAME LOG-NAME COMMAND...: runs COMMAND with its output on the terminal and in a log.
run_suite() {
  local name=$1 log="$LOGS/$2.log" started=$SECONDS rc=0
  shift 2
  printf '\n== %s\n' "$name"
  set +e
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  names+=("$name")
  if ((rc == 0)); then
    results+=("passed  $(((SECONDS - started) / 60))m$(((SECONDS - started) % 60))s")
  else
    results+=("FAILED  $(((SECONDS - started) / 60))m$(((SECONDS - started) % 60))s  (exit $rc, log $log)")
    failed=1
  fi
}

# trixie_suite ENGINE VERSION FILES...: the e2e FILES with HAProxy 3.0 on trixie's ENGINE (docker or
# podman, scripts/setup-trixie-engines.sh), in its network namespace: the ports it publishes are on
# that namespace's loopback, and the suite's own listeners (TLS endpoint, GitHub double) are there
# too. Fails when the engine is not there or does not answer as VERSION (e.g. 26.1), and when a
# container or network the suite created is left on it.
trixie_suite() {
  local engine=$1 version=$2 ns=vic-lb-trixie-$1 sock found before after left rc=0
  shift 2
  case $engine in
    docker) sock=unix:///run/vic-lb-trixie-docker/docker.sock ;;
    podman) sock=unix:///run/vic-lb-trixie-podman/podman.sock ;;
    *) echo "trixie_suite: unknown engine '$engine' (known: docker, podman)" >&2; return 2 ;;
  esac
  if [[ ! -e /run/netns/$ns ]]; then
    echo "trixie's $engine is not running: no network namespace $ns (run: bash scripts/setup.sh)" >&2
    return 1
  fi
  if ! found=$(DOCKER_HOST=$sock docker version --format '{{.Server.Version}}' 2>&1); then
    echo "trixie's $engine does not answer on $sock: $found (run: bash scripts/setup.sh)" >&2
    return 1
  fi
  if [[ $found != "$version".* ]]; then
    echo "trixie's $engine on $sock is version $found, not $version" >&2
    return 1
  fi
  echo "$engine $found on $sock, in network namespace $ns"
  before=$(engine_objects "$sock")
  ip netns exec "$ns" env VIC_LB_E2E_ENGINE="$engine" VIC_LB_E2E_DOCKER_HOST="$sock" \
    VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:3.0 npm run test:e2e -- "$@" || rc=$?
  after=$(engine_objects "$sock")
  left=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
  if [[ -n $left ]]; then
    echo "The suite left on trixie's $engine:" >&2
    while read -r kind id; do
      echo "  $kind $(DOCKER_HOST=$sock docker inspect --format '{{.Name}}' "$id" 2>&1) ($id)" >&2
    done <<<"$left"
    ((rc)) || rc=1
  fi
  return "$rc"
}

# engine_objects DOCKER_HOST: "container ID" and "network ID", a line each, of what is on the engine.
engine_objects() {
  {
    DOCKER_HOST=$1 docker ps -aq --no-trunc | sed 's/^/container /'
    DOCKER_HOST=$1 docker network ls -q --no-trunc | sed 's/^/network /'
  } | sort
}

run_suite "type check" typecheck npm run typecheck
run_suite "lint: eslint, prettier, import cycles" lint npm run lint
run_suite "unit tests" unit npm run test:unit
run_suite "e2e: dockerd + HAProxy 2.6 (with the VCH stand-in and API 1.44-only)" e2e-docker-2.6 \
  env VIC_LB_E2E_ENGINE=docker VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:2.6 npm run test:e2e
run_suite "e2e: dockerd + HAProxy 3.0 (its core)" e2e-docker-3.0 \
  env VIC_LB_E2E_ENGINE=docker VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:3.0 npm run test:e2e -- "${HAPROXY_CORE[@]}"
run_suite "e2e: Podman 4.3 + HAProxy 3.0 (its core)" e2e-podman-3.0 \
  env VIC_LB_E2E_ENGINE=podman VIC_LB_E2E_DOCKER_HOST=$PODMAN VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:3.0 npm run test:e2e -- "${HOST_CORE[@]}"
run_suite "e2e: trixie Docker 26.1 + HAProxy 3.0 (core)" e2e-trixie-docker-3.0 trixie_suite docker 26.1 "${TRIXIE_CORE[@]}"
run_suite "e2e: trixie Podman 5.4 + HAProxy 3.0 (core)" e2e-trixie-podman-3.0 trixie_suite podman 5.4 "${TRIXIE_CORE[@]}"

printf '\n== Summary\n'
for i in "${!names[@]}"; do printf '%-72s %s\n' "${names[$i]}" "${results[$i]}"; done
if ((failed)); then
  echo "Some tests FAILED (see above)." >&2
  exit 1
fi
echo "All tests passed."
