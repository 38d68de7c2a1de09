#!/usr/bin/env bash
# Runs every test: the type check, lint (eslint, prettier, no import cycles) and the unit tests once, then the end-to-end suite once per host
# and HAProxy branch the action supports:
#   dockerd + HAProxy 2.6    the whole suite, with the VCH stand-in and the API 1.44-only mode
#   dockerd + HAProxy 3.0    the files whose outcome depends on HAProxy's version (HAPROXY_CORE)
#   Podman 4.3 + HAProxy 3.0 the files whose outcome depends on the host (HOST_CORE), through
#                            Podman's Docker API
# one after another: the load tests assert zero failed requests on two cores, and two suites at
# once would make them measure each other. The whole suite runs once; each other leg runs its own
# core, so the matrix stays within CI's time. Each suite is its own vitest run. A failed suite does
# not stop the others; the summary names each one, and the exit status is non-zero if any failed.
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
# cancellation and failures (its process list, events, errors and port publishing).
HOST_CORE=($E2E/deploy.test.ts $E2E/redeploy.test.ts $E2E/load.test.ts $E2E/lifecycle.test.ts
  $E2E/lease.test.ts $E2E/cancel.test.ts $E2E/keep-alive.test.ts $E2E/failures.test.ts $E2E/exposure.test.ts $E2E/protection.test.ts)

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

run_suite "type check" typecheck npm run typecheck
run_suite "lint: eslint, prettier, import cycles" lint npm run lint
run_suite "unit tests" unit npm run test:unit
run_suite "e2e: dockerd + HAProxy 2.6 (with the VCH stand-in and API 1.44-only)" e2e-docker-2.6 \
  env VIC_LB_E2E_ENGINE=docker VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:2.6 npm run test:e2e
run_suite "e2e: dockerd + HAProxy 3.0 (its core)" e2e-docker-3.0 \
  env VIC_LB_E2E_ENGINE=docker VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:3.0 npm run test:e2e -- "${HAPROXY_CORE[@]}"
run_suite "e2e: Podman 4.3 + HAProxy 3.0 (its core)" e2e-podman-3.0 \
  env VIC_LB_E2E_ENGINE=podman VIC_LB_E2E_DOCKER_HOST=$PODMAN VIC_LB_E2E_HAPROXY_IMAGE=vic-lb-test/haproxy:3.0 npm run test:e2e -- "${HOST_CORE[@]}"

printf '\n== Summary\n'
for i in "${!names[@]}"; do printf '%-72s %s\n' "${names[$i]}" "${results[$i]}"; done
if ((failed)); then
  echo "Some tests FAILED (see above)." >&2
  exit 1
fi
echo "All tests passed."
