"""Read a node's /metrics as Prometheus would: every sample by (name, labels), and the family names."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str):
        self.text = text
        self.samples: dict[tuple[str, frozenset], float] = {}
        self.families: dict[str, str] = {}  # family name -> type
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name: str, **labels) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name: str) -> dict[frozenset, float]:
        """Every sample of ``name``: labels -> value."""
        return {labels: v for (n, labels), v in self.samples.items() if n == name}

    def names(self) -> set[str]:
        """Every sample name with at least one series (``_total``, ``_bucket``, ``_created`` spelled out)."""
        return {n for n, _ in self.samples}


def scrape(node) -> Scrape:
    r = node.call("GET", "/metrics")
    assert r.status == 200, r.status
    return Scrape(r.raw.decode())
