"""On a failure, attach every region's node logs (tests/support/regions.py)."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    regions = item.funcargs.get("regions") if hasattr(item, "funcargs") else None
    if report.failed and regions is not None:
        report.sections.append(("node logs", regions.logs()))
