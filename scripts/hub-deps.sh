#!/usr/bin/env bash
# What a class on a real JupyterHub needs besides the 'hub' extra (tests/hub,
# make classroom-hub), installed into build/hub and nowhere else:
#   1. configurable-http-proxy, JupyterHub's standard proxy: an npm package,
#      in build/hub/node_modules;
#   2. the students' Python environment, build/hub/user-env: labsock[lab] (editable,
#      this checkout), jupyterhub (for jupyterhub-singleuser, the same version as
#      the hub's) and nbgitpuller. The students are real Unix users when the test
#      runs as root, and they cannot run .venv's Python when it lives somewhere
#      only root can enter (a pyenv under /root, say): this environment is made
#      from a Python every user can run, as The Littlest JupyterHub keeps the
#      users' environment apart from the hub's.
# Where npm or such a Python is missing, say so and go on: the hub tests skip
# with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/hub
venv_python=${VENV:-.venv}/bin/python
mkdir -p "$build"

proxy_version=5.3.0
if [ -x "$build/node_modules/.bin/configurable-http-proxy" ]; then
    :
elif command -v npm >/dev/null; then
    echo "hub-deps: npm install configurable-http-proxy@$proxy_version into $build"
    npm install --prefix "$build" --no-audit --no-fund --loglevel=error \
        "configurable-http-proxy@$proxy_version" >/dev/null \
        || echo "hub-deps: npm could not install configurable-http-proxy; the hub tests will be skipped" >&2
else
    echo "hub-deps: no npm here; the hub tests will be skipped" >&2
fi

# The students' environment only matters when they are other Unix users (root runs the test).
[ "$(id -u)" -eq 0 ] || exit 0
hub_version=$("$venv_python" -c 'import jupyterhub; print(jupyterhub.__version__)')
stamp="$build/user-env/.installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) jupyterhub==$hub_version"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
# A Python that a user without rights can run: every folder on its way open to all.
python=""
for candidate in /usr/bin/python3 /usr/local/bin/python3; do
    if [ -x "$candidate" ] && su nobody -s /bin/sh -c "$candidate -c 'import venv, ensurepip'" 2>/dev/null \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "hub-deps: no Python 3.10+ that every user may run (with venv); the hub tests will be skipped" >&2
    exit 0
fi
echo "hub-deps: the students' environment in $build/user-env (from $python)"
rm -rf "$build/user-env"
"$python" -m venv "$build/user-env"
"$build/user-env/bin/python" -m pip install --quiet --upgrade pip
"$build/user-env/bin/python" -m pip install --quiet -e '.[lab]' "jupyterhub==$hub_version" 'nbgitpuller>=1.2'
echo "$want" >"$stamp"
