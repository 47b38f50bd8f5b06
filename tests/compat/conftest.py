import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def cluster(tmp_path):
    """A real 3-node cluster (the cluster tests' fixture, for the compatibility tests)."""
    c = Cluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    c = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and c is not None:
        report.sections.append(("node logs", c.logs()))
