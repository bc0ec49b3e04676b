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

.PHONY: lab test lint bench train install-lab install-test system-packages clean

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

## make lab: set up, fetch the data, open the self-study notebook in JupyterLab
lab: install-lab
	$(BIN)/mnist-widgets data fetch mnist
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) notebooks/tour.ipynb

## make train: headless training of the codelab's final model on the full data
train: install-lab
	$(BIN)/mnist-widgets train --preset cnn-batchnorm --out runs

## make test: install what the tests need, then lint and run the whole suite
test: install-test system-packages
	$(BIN)/ruff check mnist_widgets tests bench
	$(BIN)/ruff format --check mnist_widgets tests bench
	$(BIN)/python -m pytest -q -W ignore::DeprecationWarning

lint: install-test
	$(BIN)/ruff check mnist_widgets tests bench
	$(BIN)/ruff format --check mnist_widgets tests bench

## make bench: the speed and memory benchmarks (long; not part of the tests)
bench: install-test
	bash bench/run_all.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache test-output
