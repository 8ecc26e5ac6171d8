#!/usr/bin/env bash
# Install Debian's redis-server for the demo's multi-worker tests, as root, only
# if it is missing. The tests start and stop their own server on a free
# loopback port; nothing is enabled or started here.
# Idempotent: a second run does nothing and takes well under a second.
set -euo pipefail

log() { printf 'demo_redis/install.sh: %s\n' "$*" >&2; }

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

if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # --no-install-recommends: the server binary, not a service to start at boot.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server
fi
# A package install may start the system service; the tests never use it.
log "ok: $(redis-server --version)"
