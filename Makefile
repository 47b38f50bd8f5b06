# One command each: `make dev` (set up + run a dev registry), `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup dev cluster test test-all durability latency clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

dev: $(STAMP)  ## a single-node registry on 127.0.0.1:8500, data in .manifest/dev
	$(BIN)/manifest dev

cluster: $(STAMP)  ## a 3-node cluster on 127.0.0.1:8500/8502/8504; Ctrl-C stops it
	$(BIN)/manifest dev --nodes 3 --data-dir .manifest/cluster

test: $(STAMP)  ## everything CI runs: unit, API, real-cluster and durability tests
	$(BIN)/python -m pytest -n auto -m "not slow" -p no:cacheprovider

test-all: $(STAMP)  ## also the slow runs
	$(BIN)/python -m pytest -n auto -p no:cacheprovider

durability: $(STAMP)  ## 10 kill-all-nodes runs with counts
	$(BIN)/python -m loadtests.durability --runs 10

latency: $(STAMP)  ## one-connection latency and failover figures
	$(BIN)/python -m loadtests.latency

clean:
	rm -rf $(VENV) .manifest *.egg-info
