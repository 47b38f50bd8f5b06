"""The previous release of Manifest in its own venv, for the upgrade tests (issue 17 point 4).

``PINNED`` is a commit of main. Its tree comes out of this repository's own
history (``git archive``), is installed (not editable) into
``.release-venvs/<sha>/`` beside the checkout, and its nodes run as
``<venv>/bin/python -m manifest_node``. The venv is kept between runs, so
only the first run of a checkout pays the install (about a minute);
concurrent pytest workers wait on one lock file instead of racing.

Move ``PINNED`` forward when a release is cut; the upgrade test then proves
the next one, and the format fixtures of the old release stay in
``tests/fixtures/releases/``.
"""

from __future__ import annotations

import fcntl
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# main as of 2026-12-02 (the recovered tree of issues 19 and 10-15): the first release whose log,
# snapshot, Raft wire and internal-forwarding formats are all versioned.
PINNED = "98703f3d97043ab2e47f02a416f1b67cb4fb3675"
ROOT = Path(__file__).resolve().parents[2]


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
    src = venv.with_name(venv.name + "-src")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha],
                             capture_output=True)
    if archive.returncode != 0:
        pytest.fail(f"release {sha} is not in this clone's history (a shallow clone?): "
                    f"{archive.stderr.decode(errors='replace').strip()}")
    src.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(src, filter="data")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", str(src)], check=True)
