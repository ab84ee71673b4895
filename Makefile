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

.PHONY: install browser up test demo bench
install: $(BIN)/govshare browser

# The dashboard's browser tests drive Debian's chromium (Playwright cannot download a browser
# here); the CJK fonts make Chinese titles render in it. Installed only where it is missing and
# apt-get can run as root; anywhere else the step says so and the browser tests skip with the reason.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-noto-cjk >/dev/null || echo "chromium could not be installed: browser tests will skip"; \
	else echo "chromium missing and apt-get unavailable (or not root): browser tests will skip"; fi

up: install
	$(BIN)/govshare up

# Three workers, each a whole test file at a time (a module's service is started once). The
# machine has two cores, but a third of a run is services starting and tests waiting on them:
# on it three workers took 7:30 and 8:21 of pytest where two took 8:22-8:28 (1021 tests).
PYTEST_ARGS ?= -n 3 --dist loadfile

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/govshare demo

bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.pipeline $(BENCH_ARGS)
