# The two commands in the README: `make demo` (the main job, offline) and `make test`.
# Both build the virtual environment first, so they work on a fresh machine.

# durable-rules 2.0.28 builds on CPython 3.10 to 3.12 only: take the newest of those, from the
# PATH or from pyenv's versions (its shims fail for a version that is not selected).
PYENV_VERSIONS := $(HOME)/.pyenv/versions
PYTHON ?= $(shell for p in python3.12 $(PYENV_VERSIONS)/3.12*/bin/python3.12 python3.11 \
	$(PYENV_VERSIONS)/3.11*/bin/python3.11 python3.10 $(PYENV_VERSIONS)/3.10*/bin/python3.10 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
	&& echo $$p && break; done)
# The oldest supported Python, for `make test-lowest`.
PYTHON_OLDEST ?= $(shell for p in python3.10 $(PYENV_VERSIONS)/3.10*/bin/python3.10; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-lowest demo-lowest typecheck bench clean

$(BIN)/vigil: setup.cfg pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python 3.10, 3.11 or 3.12 (durable-rules does not support 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# The demo's steps, for a virtual environment's bin/ ($(1)) and a home of its own ($(2)).
define DEMO
	VIGIL_HOME=$(2) $(1)/vigil replay samples/conversations.jsonl
	@echo
	@echo "Notes the plugin would have posted (shadow: nothing left this machine):"
	VIGIL_HOME=$(2) $(1)/vigil notes
endef

demo: $(BIN)/vigil
	$(call DEMO,$(BIN),.vigil/demo)

test: $(BIN)/vigil
	$(BIN)/python -m pytest -q

typecheck: $(BIN)/vigil
	$(BIN)/python -m mypy

# The oldest supported Python with the lowest version every direct dependency allows: proves
# the floors in setup.cfg (uv, from PyPI, resolves them; pip cannot).
LOWEST := .venv-lowest
$(LOWEST)/bin/vigil: setup.cfg pyproject.toml
	@test -n "$(PYTHON_OLDEST)" || { echo "need Python 3.10 for the oldest-and-lowest run"; exit 1; }
	rm -rf $(LOWEST)
	$(PYTHON_OLDEST) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet uv
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct -e '.[test]'
	@touch $@

test-lowest: $(LOWEST)/bin/vigil
	$(LOWEST)/bin/python --version
	$(LOWEST)/bin/python -m pytest -q

# The demo on the oldest Python with the lowest versions.
demo-lowest: $(LOWEST)/bin/vigil
	$(call DEMO,$(LOWEST)/bin,.vigil/demo-lowest)

bench: $(BIN)/vigil
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/decide.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/retrieval.py --sizes 1000,10000
	$(BIN)/python benchmarks/ranking.py

clean:
	rm -rf $(VENV) $(LOWEST) .vigil
