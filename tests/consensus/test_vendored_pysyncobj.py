"""The fork of pysyncobj differs from its upstream release by exactly upstream.diff."""

from tests.consensus import vendor_diff


def test_vendored_copy_matches_the_committed_diff():
    expected = vendor_diff.DIFF_FILE.read_text()
    actual = vendor_diff.render()
    assert actual == expected, (
        "node/consensus/pysyncobj changed without its diff: review the change, then run "
        "`.venv/bin/python -m tests.consensus.vendor_diff --write` and commit upstream.diff")


def test_nothing_imports_the_upstream_package():
    import pathlib
    import re

    root = pathlib.Path(vendor_diff.__file__).resolve().parents[2]
    pattern = re.compile(r"^\s*(from|import)\s+pysyncobj\b", re.M)
    offenders = [str(p.relative_to(root)) for folder in ("node", "client", "loadtests")
                 for p in (root / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
