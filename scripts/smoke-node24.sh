#!/usr/bin/env bash
# Smoke-test the built action bundle on Node 24, the runtime action.yml declares
# (CI and developers have Node 20), installed by scripts/node24.sh from the npm
# package `node@24` into a cache directory outside the repo.
#
# The check: run the bundle like the runner would, with only
#   INPUT_COMMAND=deploy  INPUT_IMAGE='bad image#'
# (every other input unset = empty) and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
# pointing at temp files, and assert that it
#   - exits with code 1,
#   - prints a workflow command `::error::` on stdout, whose line mentions `image`.
# It needs no Docker daemon: input validation must fail first.
#
# Usage: scripts/smoke-node24.sh [BUNDLE]     (default: dist/index.js)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUNDLE=${1:-dist/index.js}
NODE24=$(scripts/node24.sh)
TIMEOUT=${VIC_LB_SMOKE_TIMEOUT:-60}

log() { echo "[smoke-node24] $*"; }
die() { echo "[smoke-node24] FAIL: $*" >&2; exit 1; }

log "using Node $("$NODE24" --version) ($NODE24)"

[[ -f $BUNDLE ]] || die "$BUNDLE not found (run npm run build first)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/github_output"
: >"$tmp/step_summary"
mkdir -p "$tmp/home"

set +e
env -i \
  PATH="$(dirname "$NODE24"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  HOME="$tmp/home" \
  INPUT_COMMAND=deploy \
  'INPUT_IMAGE=bad image#' \
  GITHUB_OUTPUT="$tmp/github_output" \
  GITHUB_STEP_SUMMARY="$tmp/step_summary" \
  timeout "$TIMEOUT" "$NODE24" "$BUNDLE" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
rc=$?
set -e

echo "----- exit code: $rc"
echo "----- stdout:"
cat "$tmp/stdout"
if [[ -s $tmp/stderr ]]; then
  echo "----- stderr:"
  cat "$tmp/stderr"
fi
echo "-----"

[[ $rc -ne 124 ]] || die "$BUNDLE did not finish within ${TIMEOUT}s"
[[ $rc -eq 1 ]] || die "expected exit code 1, got $rc"
grep -qF '::error::' "$tmp/stdout" || die "stdout has no '::error::' workflow command"
grep -F '::error::' "$tmp/stdout" | grep -qi 'image' || die "the '::error::' line does not mention 'image'"
log "ok: $BUNDLE on Node $("$NODE24" --version) rejects INPUT_IMAGE='bad image#' with exit 1 and ::error::"
