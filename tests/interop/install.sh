#!/usr/bin/env bash
# Install what the interop peers in tests/interop/node need, on Debian, as root:
#   - Debian's Chromium (/usr/bin/chromium), only if it is missing;
#   - the Node packages from package-lock.json (npm ci), only if node_modules
#     is missing or the lock file changed since the last install.
# Idempotent: a second run does nothing and takes well under a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/node"
stamp="$node_dir/node_modules/.wsproto-lite-lock.sha256"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

log() { printf 'interop/install.sh: %s\n' "$*" >&2; }

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root for: $*"
    return 1
  fi
}

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# Node.js (the machines come with Node 20; Debian's own is older).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "node/npm missing: installing Debian's nodejs and npm"
  apt_install nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ $node_major -lt 20 ]]; then
  log "warning: Node.js $(node --version) found; playwright-core needs >= 20"
fi

# Chromium.
if [[ ! -x $chromium ]]; then
  log "installing chromium"
  apt_install chromium
fi

# Node packages.
lock_sum="$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$lock_sum" \
  || ! -f $node_dir/node_modules/ws/package.json \
  || ! -f $node_dir/node_modules/playwright-core/package.json ]]; then
  log "npm ci in $node_dir"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$lock_sum" >"$stamp"
fi

log "ok: $(node --version), $("$chromium" --version 2>/dev/null || echo 'chromium ?')"
