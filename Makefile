# Two commands for a fresh machine:  `make lab` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# the test data: ../shared/data when it is there (CI, developers), else the user cache
SHARED := $(abspath $(CURDIR)/../shared/data)
ifneq ($(wildcard $(SHARED)/mnist),)
export MNIST_WIDGETS_DATA ?= $(SHARED)
endif
PORT ?= 8888

# `jupyter lab` refuses root unless told; a normal user needs no flag
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab lab-server jupyter-config test test-fast lint bench train install-lab install-test system-packages hub-proxy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install-lab: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[lab]"

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

# Debian's Chromium for the browser tests, Fashion-MNIST, and bubblewrap (the grading
# sandbox) (root only; skipped otherwise)
system-packages:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/bwrap ] || missing="$$missing bubblewrap"; \
	[ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: install$$missing with apt-get (as root) for the browser and Fashion-MNIST tests"; fi; \
	fi

# the kit's Jupyter configuration (jupyter-config/) in the venv: a wheel carries it as data
# files, an editable install does not
KIT_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.d/mnist_widgets.json \
	$(VENV)/etc/ipython/ipython_kernel_config.json
$(VENV)/etc/jupyter/jupyter_server_config.d/%.json: jupyter-config/server-config/%.json | $(BIN)/python
	install -D -m 644 $< $@
$(VENV)/etc/ipython/%.json: jupyter-config/kernel-config/%.json | $(BIN)/python
	install -D -m 644 $< $@
jupyter-config: $(KIT_CONFIG)

# configurable-http-proxy for the live-hub test (tests/test_hub.py), into .node/: Debian's
# nodejs and npm first (root only; skipped otherwise); 5.x on Node.js >= 20, else 4.6
# (Debian 12's nodejs is 18)
CHP := $(CURDIR)/.node/node_modules/.bin/configurable-http-proxy
hub-proxy:
	@if [ ! -x "$(CHP)" ] && ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if [ -x "$(CHP)" ]; then :; \
	elif ! command -v npm >/dev/null; then \
	  echo "note: install nodejs and npm (apt-get install nodejs npm) for the live-hub test"; \
	else \
	  major=$$(node -p 'process.versions.node.split(".")[0]'); \
	  if [ "$$major" -ge 20 ]; then v=5.3; else v=4.6; fi; \
	  npm install --prefix $(CURDIR)/.node --no-save --no-audit --no-fund --loglevel=error \
	    configurable-http-proxy@$$v >/dev/null; \
	fi

## make lab: set up, fetch the data, open the self-study notebook in JupyterLab
lab: install-lab jupyter-config
	$(BIN)/mnist-widgets data fetch mnist
	@$(MAKE) --no-print-directory lab-server

# the server step of `make lab` alone; LAB_ARGS adds options (tests/test_lab_server.py
# runs it with --no-browser and a token of its own)
lab-server:
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) $(LAB_FLAGS) \
	  $(LAB_ARGS) notebooks/tour.ipynb

## make train: headless training of the codelab's final model on the full data
train: install-lab
	$(BIN)/mnist-widgets train --preset cnn-batchnorm --out runs

## make test: install what the tests need, then lint and run the whole suite (what CI runs)
test: install-test system-packages jupyter-config hub-proxy
	$(BIN)/ruff check mnist_widgets tests bench
	$(BIN)/ruff format --check mnist_widgets tests bench
	$(BIN)/python -m pytest -q --durations=15

## make test-fast: lint and the quick tests: no browser, no nbgrader course, no worker
## processes or clusters, nothing marked slow, not the bench scripts' smoke runs (they start
## processes of their own and autograde a course) (installs only when pyproject.toml changed)
FAST_TESTS := -m "not (browser or slow or cluster)" --ignore=tests/browser \
	--ignore=tests/test_course.py --ignore=tests/test_bench_smoke.py
test-fast: $(VENV)/.installed-test
	$(BIN)/ruff check mnist_widgets tests bench
	$(BIN)/ruff format --check mnist_widgets tests bench
	$(BIN)/python -m pytest -q $(FAST_TESTS)

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

lint: install-test
	$(BIN)/ruff check mnist_widgets tests bench
	$(BIN)/ruff format --check mnist_widgets tests bench

## make bench: the speed and memory benchmarks (long; not part of the tests)
bench: install-test
	bash bench/run_all.sh

clean:
	rm -rf $(VENV) .node build *.egg-info .pytest_cache .ruff_cache test-output
