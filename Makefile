# One command each: `make dev` (set up + run a dev registry), `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: tools setup dev cluster test test-all durability latency bench bench-quick scale locust chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# wrk and etcd (Debian) are what the benchmark smoke tests compare against.
tools:
	@command -v wrk >/dev/null && command -v etcd >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk etcd-server >/dev/null; }

setup: $(STAMP) tools

dev: $(STAMP)  ## a single-node registry on 127.0.0.1:8500, data in .manifest/dev
	$(BIN)/manifest dev

cluster: $(STAMP)  ## a 3-node cluster on 127.0.0.1:8500/8502/8504; Ctrl-C stops it
	$(BIN)/manifest dev --nodes 3 --data-dir .manifest/cluster

test: $(STAMP) tools  ## everything CI runs: unit, API, real-cluster and durability tests
	$(BIN)/python -m pytest -n auto -m "not slow" -p no:cacheprovider

test-all: $(STAMP) tools  ## also the slow runs
	$(BIN)/python -m pytest -n auto -p no:cacheprovider

durability: $(STAMP)  ## 10 kill-all-nodes runs with counts
	$(BIN)/python -m loadtests.durability --runs 10

latency: $(STAMP)  ## one-connection latency and failover figures
	$(BIN)/python -m loadtests.latency

bench: $(STAMP)  ## issue 6: Manifest vs etcd vs bare aiohttp (~9 min; apt-installs wrk/etcd)
	$(BIN)/python -m loadtests.bench --out bench-results

bench-quick: $(STAMP)
	$(BIN)/python -m loadtests.bench --quick --out bench-results

scale: $(STAMP)  ## 100k instances heartbeating (target 7)
	$(BIN)/python -m loadtests.scale --out bench-results

locust: $(STAMP)
	$(BIN)/python -m loadtests.locust_run --out bench-results

clean:
	rm -rf $(VENV) .manifest *.egg-info
