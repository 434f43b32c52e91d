# Two commands are all a student or a teacher needs:
#   make lab    set everything up, then open the course in JupyterLab
#   make test   set everything up, then run every check CI runs
# Both create (or reuse) a virtual environment in .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Keep Jupyter's runtime files (kernel connection files, lab workspaces) inside
# the project, so parallel checkouts and CI runs never share them.
export JUPYTER_RUNTIME_DIR ?= $(CURDIR)/.jupyter-runtime

.PHONY: lab test setup system-deps lint typecheck unit notebooks clean

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks notebooks/00_index.ipynb $(if $(filter 0,$(shell id -u)),--allow-root,)

# One pytest run for tests and notebooks, so its closing line counts them all.
test: setup system-deps lint typecheck
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# Outside programs the tests use as clients we did not write (socat, netcat).
# Installed with apt-get where we can; elsewhere the tests that need them skip.
system-deps:
	@bash scripts/system-deps.sh

lint: setup
	$(BIN)/ruff check labsock tests notebooks
	$(BIN)/ruff format --check labsock tests notebooks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest tests

notebooks: setup
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

clean:
	rm -rf $(VENV) .jupyter-runtime .mypy_cache .ruff_cache build dist *.egg-info
