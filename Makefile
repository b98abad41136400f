# e2h — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LM_EVAL := .venv-lmeval

.PHONY: setup setup-dev demo test test-fast lint bench check-report clean

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e .  # .pyc files are written on first import instead
	touch $(STAMP)

# the test and lint tools, and ray for the Ray backend's tests (the demo needs none of them)
$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

demo:
	@start=$$(date +%s); $(MAKE) --no-print-directory setup && \
	echo "demo: setup (venv, install) $$(( $$(date +%s) - start )) s" && \
	$(BIN)/e2h run configs/demo.yaml && \
	echo "demo: total wall time $$(( $$(date +%s) - start )) s (make demo, from setup to report)"

test: setup-dev
	$(BIN)/python -m pytest -q

test-fast: setup-dev
	$(BIN)/python -m pytest -q -m "not integration"

lint: setup-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# lm-evaluation-harness in its own venv (it pins its own dependencies); the .pth file lends it e2h's torch
$(LM_EVAL)/.installed: $(DEV_STAMP)
	$(PYTHON) -m venv $(LM_EVAL)
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
	  "$$($(LM_EVAL)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/e2h_venv.pth"
	$(LM_EVAL)/bin/python -m pip install --quiet lm-eval==0.4.13
	touch $@

bench: setup-dev $(LM_EVAL)/.installed
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/generation.py

check-report: setup
	$(BIN)/python -m e2h.analysis.browser_check runs/demo

clean:
	rm -rf $(VENV) $(LM_EVAL) .pytest_cache .ruff_cache
