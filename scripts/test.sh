#!/usr/bin/env bash
# Runs every test: unit tests, then the end-to-end suite against the real Docker engine and
# HAProxy. Prepares the machine first (quick when already done), so it works on a fresh one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
printf '\n== npm test\n'
npm test
