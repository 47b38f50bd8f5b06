# One command each: `make dev` (set up + run a dev registry), `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: tools setup dev cluster test test-all docs fuzz durability latency bench bench-quick scale soak locust chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# wrk and etcd (Debian) are what the benchmark smoke tests compare against;
# chromium is the real browser the dashboard tests drive (Playwright, no browser download).
# The compatibility tests' real clients (tests/compat/): Prometheus (http_sd), VictoriaMetrics
# (consul_sd: Debian builds Prometheus without Consul SD), dig, and dnsperf for the DNS load check;
# promtool (in the prometheus package) checks and unit-tests cluster/prometheus/alerts.yml.
COMPAT_TOOLS := /usr/bin/prometheus /usr/bin/promtool /usr/bin/victoria-metrics /usr/bin/dig /usr/bin/dnsperf
tools:
	@command -v wrk >/dev/null && command -v etcd >/dev/null && test -x /usr/bin/chromium && command -v gcc >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk etcd-server chromium gcc >/dev/null; }
	@( for f in $(COMPAT_TOOLS); do test -x $$f || exit 1; done ) || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    prometheus victoria-metrics dnsutils dnsperf >/dev/null; }

setup: $(STAMP) tools

dev: $(STAMP)  ## a single-node registry on 127.0.0.1:8500, data in .manifest/dev
	$(BIN)/manifest dev

cluster: $(STAMP)  ## a 3-node cluster on 127.0.0.1:8500/8502/8504; Ctrl-C stops it
	$(BIN)/manifest dev --nodes 3 --data-dir .manifest/cluster

test: $(STAMP) tools  ## everything CI runs: unit, API, real-cluster and durability tests
	$(BIN)/python -m pytest -n auto -m "not slow" -p no:cacheprovider

test-all: $(STAMP) tools  ## also the slow runs
	$(BIN)/python -m pytest -n auto -p no:cacheprovider

docs: $(STAMP)  ## the docs site into site/: reference pages regenerated, then mkdocs build --strict
	$(BIN)/python -m scripts.docs_reference
	$(BIN)/python -m mkdocs build --strict

fuzz: $(STAMP)  ## the OpenAPI fuzz run, longer than CI's (FUZZ_CASES=20000 by default here)
	FUZZ_CASES=$${FUZZ_CASES:-20000} $(BIN)/python -m pytest tests/fuzz -s -p no:cacheprovider

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

soak: $(STAMP)  ## issue 17.5: an hour of a 5,000-instance fleet, churn and node restarts; fails on growth
	$(BIN)/python -m loadtests.soak --minutes $${SOAK_MINUTES:-60} --out soak-results

locust: $(STAMP)
	$(BIN)/python -m loadtests.locust_run --out bench-results

clean:
	rm -rf $(VENV) .manifest *.egg-info site
