"""Smoke run of issue 18's xDS push-latency script: it completes and prints both figures (no threshold)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


def test_the_xds_push_script_prints_both_latencies():
    done = subprocess.run([sys.executable, "-m", "loadtests.xds_push", "--trials", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for label in ("(a) registration ack -> DiscoveryResponse", "(b) registration ack -> first gRPC",
                  "(d) registration ack -> first call through an Envoy sidecar"):
        assert re.search(re.escape(label) + r".*: p50 -?[\d.]+ ms, p99 -?[\d.]+ ms, max -?[\d.]+ ms over 2 trials",
                         done.stdout), done.stdout
