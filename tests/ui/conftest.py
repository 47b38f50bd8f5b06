"""A real browser for the dashboard tests: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium
(``make tools`` installs it) with a fresh profile per test. Screenshots go
to bench-results/ui-screenshots/ (or $MANIFEST_UI_SHOTS) and their paths
are printed, so a CI log says where to look.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.cluster_fixture import cluster, pytest_runtest_makereport  # noqa: F401 (fixture and hook)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(os.environ.get("MANIFEST_UI_SHOTS", Path(__file__).resolve().parents[2] / "bench-results" / "ui-screenshots"))
# What the dashboard asks for on purpose and may be refused today: the
# features issue adds these (docs/dashboard.md, "Features it looks for").
PROBES = [re.compile(r"/v1/graph$"), re.compile(r"/v1/services/[^/?]+\?include=removed$")]
# Answers that are data, not failures: a member without a leader says so with a 503 readiness.
ANSWERS = [(re.compile(r"/v1/health$"), 503)]


class Console:
    """Console errors and uncaught exceptions of a page, minus the known probes."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed_origins: set[str] = set()
        self.allowed_statuses: set[int] = set()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource"):
            if any(p.search(url) for p in PROBES) and ("404" in msg.text or "400" in msg.text):
                return
            if any(p.search(url) and f"status of {code} " in msg.text for p, code in ANSWERS):
                return
            if any(url.startswith(o) for o in self.allowed_origins):
                return  # a node this test killed
            if any(f"status of {s} " in msg.text for s in self.allowed_statuses):
                return
        self.errors.append(f"{msg.text} ({url})")

    def allow_dead(self, origin: str) -> None:
        self.allowed_origins.add(origin)

    def allow_status(self, status: int) -> None:
        self.allowed_statuses.add(status)


@pytest.fixture
def browser(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make tools` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # launch_persistent_context is how Playwright takes a --user-data-dir: a fresh one per test.
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 850})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def shot():
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, what: str) -> Path:
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        print(f"screenshot {path}: {what}")
        return path

    return take


