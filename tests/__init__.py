"""labsock's tests, one folder per layer of the package, as the package is laid out.

core/ endpoints/ experiments/ viz/ panels/ exercises/  the package, layer by layer
structure/   the layer rule (imports go down) and the public surface (exported once)
course/      around the package: notebooks, Binder, the website, a classroom, benchmarks
browser/     JupyterLab in chromium

``conftest.py`` holds the fixtures (the autouse leak check applies everywhere);
``helpers.py`` the shared functions (``wait_until``, ``tcp_echo``) and skip markers.
"""
