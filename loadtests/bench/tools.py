"""External tools the benchmarks drive: wrk and etcd, installed with apt-get when missing.

Both are Debian packages (``wrk``, ``etcd-server`` + ``etcd-client``). As root
we install what is missing; otherwise we say what to run and carry on without.
"""

from __future__ import annotations

import os
import shutil
import subprocess

_updated = False


def _apt_install(*packages: str) -> bool:
    global _updated
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
        return True
    if not _updated:  # the package lists may be missing or stale: refresh once and retry
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        _updated = True
        return subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    return False


def ensure(binary: str, packages: tuple[str, ...], log=print) -> str | None:
    """Path of ``binary``, installing ``packages`` with apt-get if it is missing."""
    path = shutil.which(binary)
    if path:
        return path
    log(f"{binary} not found: apt-get install -y {' '.join(packages)} ...")
    if _apt_install(*packages) and shutil.which(binary):
        return shutil.which(binary)
    log(f"could not install {binary}; run `apt-get install {' '.join(packages)}` as root")
    return None


def ensure_wrk(log=print) -> str:
    path = ensure("wrk", ("wrk",), log)
    if path is None:
        raise SystemExit("wrk is required: apt-get install wrk")
    return path


def ensure_etcd(log=print) -> str | None:
    """Path of the etcd server, or None (then the etcd scenarios are skipped)."""
    return ensure("etcd", ("etcd-server", "etcd-client"), log)
