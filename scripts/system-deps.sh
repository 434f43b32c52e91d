#!/usr/bin/env bash
# Install the Debian packages the tests use: socat and netcat as outside
# clients (clients we did not write), g++ and strace for the C++ lesson,
# sockperf and iperf3 as the benchmarks' C references, and
# chromium for the browser tests
# (JupyterLab driven by Playwright; Playwright's own browser downloads are
# never used). Where apt-get is missing or we are not root, say so and go on:
# the tests that need a tool skip with a reason.
set -euo pipefail
need=()
command -v socat >/dev/null || need+=(socat)
command -v nc >/dev/null || need+=(netcat-openbsd)
# The C++ lesson (05_cpp): a compiler, and strace to record a program's socket calls.
command -v g++ >/dev/null || need+=(g++)
command -v strace >/dev/null || need+=(strace)
# npm fetches the Mermaid the course website ships (scripts/build_site.py).
command -v npm >/dev/null || need+=(npm)
# C references the benchmarks put beside labsock (tests/course/test_benchmarks_smoke.py).
command -v sockperf >/dev/null || need+=(sockperf)
command -v iperf3 >/dev/null || need+=(iperf3)
browser=()
if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
    # A font too, so that pages render text on a minimal system.
    browser=(chromium fonts-dejavu-core)
fi
if [ ${#need[@]} -eq 0 ] && [ ${#browser[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "system-deps: no apt-get here; tests needing ${need[*]} ${browser[*]} will be skipped" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "system-deps: not root; tests needing ${need[*]} ${browser[*]} will be skipped" >&2
        exit 0
    fi
fi
echo "system-deps: installing ${need[*]} ${browser[*]}"
$sudo apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ${#browser[@]} -gt 0 ]; then
    # Ubuntu has no Debian chromium package (only a snap): skip, don't fail.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null \
        || echo "system-deps: could not install chromium; the browser tests will be skipped" >&2
fi
