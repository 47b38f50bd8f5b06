"""Every package under node/ and client/ is in pyproject's list, so a wheel (the Docker image) has it.

An editable install finds every folder anyway, which is how node/federation/
once went missing from the list without any test noticing.
"""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRS = {"manifest_node": ROOT / "node", "manifest_client": ROOT / "client"}


def test_every_package_folder_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for name, top in DIRS.items():
        for init in top.rglob("__init__.py"):
            rel = init.parent.relative_to(top)
            found.add(".".join((name, *rel.parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "these listed packages have no folder"
