"""The real 3-node ``cluster`` fixture and the hook that attaches its nodes' logs to a failure.

Shared by the cluster, compatibility and dashboard tests: their conftest.py files import both names.
"""

import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.start()  # inside the try: a start that times out must not leak nodes
        yield c
    finally:
        c.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the nodes' logs: a cluster test is hard to read without them."""
    outcome = yield
    report = outcome.get_result()
    c = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and c is not None:
        report.sections.append(("node logs", c.logs()))
