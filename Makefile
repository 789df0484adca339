# The two commands in the README: `make demo` (the main job, offline) and `make test`.
# Both build the virtual environment first, so they work on a fresh machine.

# durable-rules 2.0.28 builds on CPython 3.10 to 3.12 only: take the newest of those.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' \
	&& echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/vigil: setup.cfg pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python 3.10, 3.11 or 3.12 (durable-rules does not support 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

demo: $(BIN)/vigil
	VIGIL_HOME=.vigil/demo $(BIN)/vigil replay samples/conversations.jsonl
	@echo
	@echo "Notes the plugin would have posted (shadow: nothing left this machine):"
	VIGIL_HOME=.vigil/demo $(BIN)/vigil notes

test: $(BIN)/vigil
	$(BIN)/python -m pytest -q

bench: $(BIN)/vigil
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/decide.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/retrieval.py --sizes 1000,10000
	$(BIN)/python benchmarks/ranking.py

clean:
	rm -rf $(VENV) .vigil
