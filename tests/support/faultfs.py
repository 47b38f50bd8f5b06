"""Build and control tests/support/faultfs.c: write and fsync faults for one node's data directory."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

SOURCE = pathlib.Path(__file__).with_name("faultfs.c")


def build(folder: pathlib.Path) -> pathlib.Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the fault shim (make tools installs it)")
    out = folder / "faultfs.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(SOURCE), "-ldl"], check=True)
    return out


class Faults:
    """One node's faults: ``set("eio")``, ``set("enospc")``, ``set("slow:200")``, ``clear()``."""

    def __init__(self, shim: pathlib.Path, data_dir: str, control: pathlib.Path):
        self.control = control
        control.write_text("")
        self.environ = {"LD_PRELOAD": str(shim), "FAULTFS_DIR": str(pathlib.Path(data_dir).resolve()),
                        "FAULTFS_CONTROL": str(control)}

    def set(self, mode: str) -> None:
        self.control.write_text(mode)

    def clear(self) -> None:
        self.control.write_text("")
