#!/usr/bin/env bash
# Sets this machine up for its job (a Docker engine and two images, nothing only the tests need)
# and runs it: a deploy of 3 instances behind HAProxy on the local Docker engine, published on port
# 8080, then one request through the load-balancer. The images are the offline test images, already
# on the host (--pull missing); on a connected machine pass your own, e.g. --image nginx:1.27.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --quickstart
printf '\n== Deploy\n'
node dist/index.js deploy \
  --image vic-lb-test/web:1 --haproxy-image vic-lb-test/haproxy:2.6 \
  --instances 3 --external-network= --lb-port 8080 --instance-prefix quickstart --lb-name quickstart-lb --pull missing \
  "$@"
printf '\n== Through the load-balancer: GET http://127.0.0.1:8080/\n'
# With Node's fetch (Node runs the action anyway), so the quick start needs no curl.
node -e 'fetch("http://127.0.0.1:8080/", { signal: AbortSignal.timeout(5000) }).then(async (r) => process.stdout.write(await r.text())).catch((e) => { console.error(e.message); process.exit(1) })'
printf '\nRemove it with: node dist/index.js teardown --instance-prefix quickstart\n'
