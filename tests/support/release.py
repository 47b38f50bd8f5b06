"""The previous release of Manifest in its own venv, for the upgrade tests (issue 17 point 4).

``PINNED`` is a commit of main. Its source (what ``pip install`` needs:
node/, client/, pyproject.toml, README.md) is kept in
``tests/fixtures/releases/<sha12>/source.tar.xz``, so the test does not
depend on this clone's history (a shallow or squashed clone has no old
commits). It is installed (not editable) into ``.release-venvs/<sha12>/``
beside the checkout, and its nodes run as ``<venv>/bin/python -m
manifest_node``. The venv is kept between runs, so only the first run of a
checkout pays the install (seconds with pip's cache, about a minute
without); concurrent pytest workers wait on one lock file instead of racing.

When a release is cut: ``python -m tests.support.release --pin SHA`` writes
its source archive, ``python -m tests.support.release_fixtures --sha SHA``
its format fixtures; then move ``PINNED``. The old release's folder stays.
"""

from __future__ import annotations

import argparse
import fcntl
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# main as of 2026-12-02 (the recovered tree of issues 19 and 10-15): the first release whose log,
# snapshot, Raft wire and internal-forwarding formats are all versioned.
PINNED = "98703f3d97043ab2e47f02a416f1b67cb4fb3675"
ROOT = Path(__file__).resolve().parents[2]
SOURCE_PATHS = ("node", "client", "pyproject.toml", "README.md")


def source_archive(sha: str) -> Path:
    return ROOT / "tests" / "fixtures" / "releases" / sha[:12] / "source.tar.xz"


def launcher(sha: str = PINNED) -> list[str]:
    """The command that runs a node of release ``sha``, installing it on first use."""
    home = ROOT / ".release-venvs"
    home.mkdir(exist_ok=True)
    venv = home / sha[:12]
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    with open(home / f"{sha[:12]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            _install(sha, venv)
            stamp.touch()
    return [str(python), "-m", "manifest_node"]


def _install(sha: str, venv: Path) -> None:
    archive = source_archive(sha)
    if not archive.exists():
        pytest.fail(f"no source of release {sha}: run python -m tests.support.release --pin {sha}")
    src = venv.with_name(venv.name + "-src")
    src.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(src, filter="data")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(src)], check=True)


def pin(sha: str) -> Path:
    """Write release ``sha``'s source archive from this repository's history."""
    out = source_archive(sha)
    out.parent.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha, *SOURCE_PATHS],
                         check=True, capture_output=True).stdout
    out.write_bytes(subprocess.run(["xz", "-9", "-c"], input=tar, check=True, capture_output=True).stdout)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Keep a release's source for the upgrade tests.")
    ap.add_argument("--pin", metavar="SHA", required=True, help="a commit of main")
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", ap.parse_args().pin], check=True,
                          capture_output=True, text=True).stdout.strip()
    print(pin(full))
