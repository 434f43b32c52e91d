# Two commands are all a student or a teacher needs:
#   make lab    set everything up, then open the course in JupyterLab
#   make test   set everything up, then run every check CI runs
# Both create (or reuse) a virtual environment in .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab
# Keep Jupyter's runtime files (kernel connection files, lab workspaces) inside
# the project, so parallel checkouts and CI runs never share them.
export JUPYTER_RUNTIME_DIR ?= $(CURDIR)/.jupyter-runtime

.PHONY: lab lab-setup test setup system-deps lint typecheck unit notebooks bench clean \
        site binder-check browser-check classroom translations

# EDITION=pt_BR opens the Portuguese edition (notebooks/pt_BR/). JupyterLab is
# rooted at the repository so the lessons' links to docs/ open too.
EDITION ?=
lab: lab-setup
	$(BIN)/jupyter lab --notebook-dir=. $(if $(EDITION),notebooks/$(EDITION),notebooks)/00_index.ipynb $(if $(filter 0,$(shell id -u)),--allow-root,)

# One pytest run for tests and notebooks, so its closing line counts them all.
test: setup system-deps lint typecheck
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(LAB_STAMP)

# A student's set-up: the course and JupyterLab only (the "lab" extra), none of
# the test toolchain. (`make test` adds that to the same .venv.)
lab-setup: $(LAB_STAMP)

$(LAB_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	@touch $@

# Outside programs the tests use as clients we did not write (socat, netcat).
# Installed with apt-get where we can; elsewhere the tests that need them skip.
system-deps:
	@bash scripts/system-deps.sh

lint: setup
	$(BIN)/ruff check labsock tests notebooks scripts benchmarks teacher
	$(BIN)/ruff format --check labsock tests notebooks scripts benchmarks teacher

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -m "not slow" tests

notebooks: setup
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

# The Portuguese edition from the English notebooks and the catalogs in
# notebooks/locale: refresh the catalogs (changed cells become stale), build
# notebooks/pt_BR/, and print how much is translated and current. make test
# fails when a catalog is incomplete or a built notebook is out of date.
translations: setup
	$(BIN)/python scripts/i18n_notebooks.py update
	$(BIN)/python scripts/i18n_notebooks.py build
	$(BIN)/python scripts/i18n_notebooks.py report
	$(BIN)/python scripts/i18n_messages.py update

# labsock against bare sockets and the loopback limit: one table, a few minutes
# (see benchmarks/README.md). BENCH_ARGS=--quick for a smoke run in seconds.
bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# The course website: every notebook executed, built with MkDocs (strict) into
# build/site, every link inside it checked. Open build/site/index.html.
site: setup
	$(BIN)/python scripts/build_site.py

# Parts of `make test`, one at a time: Binder's environment from binder/ alone;
# JupyterLab in chromium (screenshots in artifacts/screenshots/); a class of 8
# students on this host, every lesson, with memory per kernel (JSON report).
binder-check: setup
	$(BIN)/python -m pytest tests/course/test_binder.py

browser-check: setup system-deps
	$(BIN)/python -m pytest tests/browser

classroom: setup
	$(BIN)/python scripts/classroom.py students --students 8 --lessons all

# A class on a real JupyterHub (tests/hub/hubclass.py, docs/teaching-guide.md):
# configurable-http-proxy (npm) and the students' Python environment, both in
# build/hub. `make test` runs a class of 5 with a browser student; this runs
# STUDENTS (30 by default) and writes build/hub/report.json.
.PHONY: hub-deps classroom-hub
STUDENTS ?= 30
test: hub-deps

hub-deps: setup
	@bash scripts/hub-deps.sh

classroom-hub: setup system-deps hub-deps
	$(BIN)/python -m tests.hub.hubclass --students $(STUDENTS) --browser --json build/hub/report.json

clean:
	rm -rf $(VENV) .jupyter-runtime .mypy_cache .ruff_cache build dist *.egg-info
