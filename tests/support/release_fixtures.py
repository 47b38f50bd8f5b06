"""Write the format fixtures of a release: what its node leaves on disk and what its backup holds.

    .venv/bin/python -m tests.support.release_fixtures [--sha SHA | --current]

Runs one node of release ``SHA`` (default: tests/support/release.py's
``PINNED``, in its own venv) with auth and a cluster secret, gives it a small
registry (services with tags, metadata and dependencies, updates, a
deregistration, maintenance, a token), with compaction every 20 entries so
the data directory holds a snapshot *and* a journal tail, and saves into
``tests/fixtures/releases/<sha12>/``:

- ``data/``: the node's data directory after a clean stop (raft.journal,
  its meta, raft.snapshot);
- ``backup.snap``: ``GET /v1/snapshot`` of the same state;
- ``expected.json``: the instances and token metadata the node served.

tests/cluster/test_release_fixtures.py starts this checkout's node on a copy
of ``data/`` and restores ``backup.snap`` into a fresh one; both must serve
``expected.json``. Run this once per release and commit its output.

``--current`` runs this checkout's code instead and writes ``current/``: the
files of formats not released yet (the snapshot's and meta's ``sum``), so a
change that stops reading them fails too. Write it again when a format
changes on purpose before a release; once a release holds those formats,
its own folder covers them.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import release
from tests.support.cluster import free_port, wait_until
from tests.support.http import call

ROOT = Path(__file__).resolve().parents[2]
# The node's Raft address is part of its state (the snapshot's cluster); a node started on the files
# must have the same one. An address of its own in 127.0.0.0/8, away from the free ports tests take.
RAFT = "127.77.0.1:7001"
IGNORED_FILES = {"audit.log"}  # audit lines are not state


def fixture_dir(sha: str) -> Path:
    return ROOT / "tests" / "fixtures" / "releases" / sha[:12]


def served(url: str, token: str) -> dict:
    """What a node serves, in a form two releases can be compared by (the test uses it too)."""
    auth = {"Authorization": f"Bearer {token}"}
    listed = call(url, "GET", "/v1/services?consistency=linearizable", headers=auth).body
    tokens = call(url, "GET", "/v1/tokens", headers=auth).body
    return {"revision": listed["revision"],
            "instances": sorted(({k: inst.get(k) for k in ("name", "id", "status", "port", "tags", "metadata",
                                                            "dependencies", "version", "registered_at",
                                                            "last_heartbeat")}
                                 for inst in listed["instances"]), key=lambda i: (i["name"], i["id"])),
            "tokens": sorted(({k: t.get(k) for k in ("id", "role", "services", "description")}
                              for t in tokens["tokens"]), key=lambda t: t["id"])}


def _fill(url: str, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}

    def ok(method, path, body=None, want=(200, 201, 204)):
        r = call(url, method, path, body, headers=auth)
        assert r.status in want, (method, path, r.status, r.body)
        return r

    for i in range(12):
        ok("POST", "/v1/services", {"name": f"svc-{i % 3}", "id": f"i{i}", "port": 8000 + i, "ttl": 86400,
                                   "version": f"1.{i % 4}.0", "tags": [f"t{i % 2}", "fixture"],
                                   "metadata": {"zone": f"z{i % 2}", "n": str(i)},
                                   "dependencies": ["svc-0"] if i % 3 else []})
    for i in range(0, 12, 4):
        ok("PUT", f"/v1/services/svc-{i % 3}/i{i}/heartbeat")
    ok("POST", "/v1/services", {"name": "svc-1", "id": "i1", "port": 9001, "ttl": 86400,
                               "metadata": {"zone": "z9", "updated": "yes"}})
    ok("DELETE", "/v1/services/svc-2/i2")
    ok("PUT", "/v1/services/svc-0/i3/maintenance")
    ok("POST", "/v1/tokens", {"role": "service", "services": ["svc-*"], "description": "fixture token"})


CURRENT = "current"


def write(sha: str) -> Path:
    current = sha == CURRENT
    out = ROOT / "tests" / "fixtures" / "releases" / CURRENT if current else fixture_dir(sha)
    launcher = [sys.executable, "-m", "manifest_node"] if current else release.launcher(sha)
    if current:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
        sha = f"current (unreleased, at {head})"
    token, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    api = free_port()
    url = f"http://127.0.0.1:{api}"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "n1"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")},
               "MANIFEST_CLUSTER_SECRET": secret, "MANIFEST_BOOTSTRAP_TOKEN": token}
        cmd = [*launcher, "node", "--id", "n1", "--api", f"127.0.0.1:{api}", "--raft",
               RAFT, "--data-dir", str(data), "--auth", "--compaction-entries", "20",
               "--compaction-interval", "1"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: call(url, "GET", "/v1/health", timeout=1).status == 200, 30, what="the node")
            _fill(url, token)
            wait_until(lambda: (data / "raft.snapshot").exists(), 30, what="a snapshot")
            # A journal tail after the snapshot, so both are read back.
            call(url, "POST", "/v1/services", {"name": "tail", "id": "t1", "port": 1, "ttl": 86400},
                 headers={"Authorization": f"Bearer {token}"})
            expected = served(url, token)
            backup = call(url, "GET", "/v1/snapshot", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert backup.status == 200, backup.status
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(data, out / "data", ignore=lambda _d, names: [n for n in names if n in IGNORED_FILES])
        (out / "backup.snap").write_bytes(backup.raw)
        # The bootstrap token and the secret are per process, not state: neither is kept.
        (out / "expected.json").write_text(json.dumps({"release": sha, "raft": RAFT, "served": expected}, indent=1,
                                                      sort_keys=True) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--sha", default=release.PINNED)
    which.add_argument("--current", action="store_const", const=CURRENT, dest="sha",
                       help="this checkout's code, into current/")
    print(write(ap.parse_args().sha))


if __name__ == "__main__":
    main()
