"""Real 3-node clusters for these tests: tests/support/cluster_fixture.py."""

from tests.support.cluster_fixture import cluster, pytest_runtest_makereport  # noqa: F401 (fixture and hook)
