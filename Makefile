# The two commands a newcomer needs: `make up` and `make test`. Both build the
# virtual environment on first use, so a fresh machine needs nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/govshare: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: install up test demo bench
install: $(BIN)/govshare

up: install
	$(BIN)/govshare up

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/govshare demo

bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.pipeline $(BENCH_ARGS)
