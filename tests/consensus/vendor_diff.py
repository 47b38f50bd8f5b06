"""The vendored pysyncobj as a diff against its upstream release.

``node/consensus/pysyncobj/`` is pysyncobj 0.3.17 with the changes listed in
its PATCHES.md. This module renders the difference between the upstream
release (installed by the dev extra, pinned) and the vendored copy, so a
test can hold the committed ``upstream.diff`` to the code and a reviewer can
read every change in one place. Regenerate after changing the fork:

    .venv/bin/python -m tests.consensus.vendor_diff --write
"""

from __future__ import annotations

import difflib
import importlib.metadata
import pathlib
import sys

UPSTREAM_VERSION = "0.3.17"
VENDORED = pathlib.Path(__file__).resolve().parents[2] / "node" / "consensus" / "pysyncobj"
DIFF_FILE = VENDORED / "upstream.diff"


def upstream_dir() -> pathlib.Path:
    dist = importlib.metadata.distribution("pysyncobj")
    if dist.version != UPSTREAM_VERSION:
        raise RuntimeError(f"upstream pysyncobj {UPSTREAM_VERSION} expected, found {dist.version}")
    return pathlib.Path(dist.locate_file("pysyncobj"))


def render() -> str:
    upstream = upstream_dir()
    names = sorted({p.name for p in VENDORED.glob("*.py")} | {p.name for p in upstream.glob("*.py")})
    out = []
    for name in names:
        ours, theirs = VENDORED / name, upstream / name
        if not ours.exists():
            out.append(f"Only in upstream: {name} (not vendored)\n")
            continue
        a = theirs.read_text().splitlines(keepends=True) if theirs.exists() else []
        b = ours.read_text().splitlines(keepends=True)
        if a == b:
            continue
        out.extend(difflib.unified_diff(a, b, f"upstream/{name}" if a else "/dev/null",
                                        f"vendored/{name}", n=2))
    return "".join(out)


if __name__ == "__main__":
    text = render()
    if "--write" in sys.argv:
        DIFF_FILE.write_text(text)
        print(f"wrote {DIFF_FILE} ({text.count(chr(10))} lines)")
    else:
        sys.stdout.write(text)
