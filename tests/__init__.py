"""labsock's tests, laid out as the package is: one folder per layer.

core/ endpoints/ experiments/ viz/ panels/ exercises/   the package, layer by layer
test_layers.py    imports go down the layers (the floor plan, enforced)
test_exports.py   every public name is exported once
test_helpers.py   the helpers below
course/           around the package: notebooks, Binder, the site, a classroom, benchmarks
browser/          JupyterLab in chromium

``conftest.py`` holds the fixtures (its autouse leak and loopback checks apply
everywhere); ``helpers.py`` the shared functions (``wait_until``, ``tcp_echo``,
``ROOT``) and skip markers; ``loopback_audit.py`` the audit hook conftest installs.
"""
