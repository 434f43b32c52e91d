#!/usr/bin/env bash
# Install the Debian packages the tests use as outside clients: socat and
# netcat (clients we did not write). Where apt-get is missing or we are not
# root, say so and go on: the tests that need a tool skip with a reason.
set -euo pipefail
need=()
command -v socat >/dev/null || need+=(socat)
command -v nc >/dev/null || need+=(netcat-openbsd)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "system-deps: no apt-get here; tests needing ${need[*]} will be skipped" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "system-deps: not root; tests needing ${need[*]} will be skipped" >&2
        exit 0
    fi
fi
echo "system-deps: installing ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
