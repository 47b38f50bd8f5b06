"""Issue 17 point 4: this checkout reads what every kept release left behind.

For each folder of tests/fixtures/releases/ (written by that release's own
code: tests/support/release_fixtures.py), this checkout's node must start on
a copy of its data directory (snapshot plus journal tail) and serve exactly
what the release served, and must restore the release's backup file into an
empty registry with the same result. A change that cannot read a kept
release's files fails here instead of in a user's upgrade.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, Node
from tests.support.release_fixtures import served

pytestmark = pytest.mark.cluster

RELEASES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "releases").iterdir())


def _same(got: dict, want: dict) -> None:
    assert got["instances"] == want["instances"]
    assert got["tokens"] == want["tokens"]


@pytest.fixture(params=RELEASES, ids=lambda p: p.name)
def kept(request) -> tuple[Path, dict]:
    return request.param, json.loads((request.param / "expected.json").read_text())


class _AtRaft(Node):
    """A node at a fixed Raft address: the one its data directory was written with."""

    fixed_raft: str = ""

    @property
    def raft(self) -> str:
        return self.fixed_raft


def test_there_is_a_fixture_of_the_pinned_release():
    from tests.support.release import PINNED
    assert any(p.name == PINNED[:12] for p in RELEASES), "run python -m tests.support.release_fixtures"


def _on_data_dir(tmp_path, folder: Path, meta: dict, launcher=None):
    """A one-node cluster (not started) whose node has the kept data directory and its Raft address."""
    cluster = Cluster(tmp_path, size=1, auth=True, launcher=launcher)
    base = cluster.nodes[0]
    node = _AtRaft(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    node.fixed_raft = meta["raft"]
    cluster.nodes[0] = node
    shutil.copytree(folder / "data", node.data_dir)
    return cluster, node


def test_a_node_starts_on_a_kept_releases_data_directory_and_serves_its_state(tmp_path, kept):
    folder, meta = kept
    want = meta["served"]
    cluster, node = _on_data_dir(tmp_path, folder, meta)
    with cluster:
        got = served(node.url, node.token)
        _same(got, want)
        assert got["revision"] >= want["revision"]


def test_a_kept_releases_backup_restores_into_an_empty_registry(tmp_path, kept):
    folder, meta = kept
    want = meta["served"]
    with Cluster(tmp_path, size=1, auth=True) as cluster:
        node = cluster.nodes[0]
        r = node.call("POST", "/v1/snapshot/restore", raw=(folder / "backup.snap").read_bytes(),
                      headers={"Content-Type": "application/vnd.manifest.snapshot"}, timeout=30)
        assert r.status == 200, r.body
        _same(served(node.url, node.token), want)


def test_the_pinned_release_starts_on_the_current_formats(tmp_path):
    """A downgrade reads what this checkout writes: the pinned release on ``current/``'s data directory."""
    from tests.support import release
    folder = Path(__file__).resolve().parents[1] / "fixtures" / "releases" / "current"
    meta = json.loads((folder / "expected.json").read_text())
    cluster, node = _on_data_dir(tmp_path, folder, meta, launcher=release.launcher())
    with cluster:
        _same(served(node.url, node.token), meta["served"])
