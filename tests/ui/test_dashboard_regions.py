"""The dashboard's Regions panel (docs/federation.md) in a real browser: one region up, one unreachable."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.cluster import Cluster, free_port

from .conftest import Console


def test_the_cluster_page_shows_each_region_with_its_health(tmp_path, browser, shot):
    eu = Cluster(tmp_path / "eu", size=1, extra=["--region", "eu"])
    dead = f"http://127.0.0.1:{free_port()}"
    with eu:
        us = Cluster(tmp_path / "us", size=1, extra=["--region", "us", "--federate", f"eu={eu.nodes[0].url}",
                                                     "--federate", f"ap={dead}", "--federation-probe-interval",
                                                     "0.5"])
        with us:
            page = browser.new_page()
            console = Console(page)
            page.goto(f"{us.nodes[0].url}/ui/#/cluster")
            expect(page.locator("tr[data-region]")).to_have_count(3)
            expect(page.locator("tr[data-region=eu]")).to_have_attribute("data-state", "healthy")
            expect(page.locator("tr[data-region=ap]")).to_have_attribute("data-state", "unhealthy")
            expect(page.locator("tr[data-region=us]")).to_contain_text("this region")
            expect(page.locator("tr[data-region=eu] td").nth(2)).to_contain_text("ms")
            shot(page, "cluster-regions", "Regions panel: us (this region), eu healthy with its round trip, "
                                          "ap unreachable")
            assert not console.errors, console.errors
            page.close()
