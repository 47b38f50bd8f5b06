"""Debian's Prometheus and VictoriaMetrics (``make tools``) as a test runs them: temp config and data, a free port.

Both read Prometheus's scrape configuration (written as JSON, which is YAML)
and report what they discovered, after relabelling, on Prometheus's
``/api/v1/targets``. VictoriaMetrics is there for ``consul_sd_configs``:
Debian builds Prometheus without Consul SD ("Disable Consul SD until its
Debian package is back in shape", changelog of 2.33.5+ds1-4, still so in
2.42 and in trixie's 2.53), while its VictoriaMetrics keeps its own.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .cluster import free_port, wait_until
from .http import call

PROMETHEUS = "/usr/bin/prometheus"
VICTORIA = "/usr/bin/victoria-metrics"


def consul_sd_in_prometheus() -> bool:
    """Whether this machine's Prometheus was built with Consul SD (Debian's is not)."""
    return b"__meta_consul_health" in Path(PROMETHEUS).read_bytes() if Path(PROMETHEUS).exists() else False


class Prometheus:
    binary = PROMETHEUS
    package = "prometheus"

    def __init__(self, tmp_path: Path, scrape_configs: list[dict]):
        if not Path(self.binary).exists():
            raise RuntimeError(f"{self.binary} is not installed: run `make tools` (Debian package {self.package})")
        self.dir = tmp_path / self.package
        self.dir.mkdir()
        self.port = free_port()
        # Nothing listens at the discovered targets: scrape them rarely, only discovery is tested.
        config = {"global": {"scrape_interval": "1h", "scrape_timeout": "1s"}, "scrape_configs": scrape_configs}
        (self.dir / "prometheus.yml").write_text(json.dumps(config, indent=1))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [self.binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"]

    def __enter__(self) -> "Prometheus":
        self.log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, interval=0.2, what=f"{self.package} ready")
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.package} exited: {self.log_text()[-3000:]}")
        return call(self.url, "GET", "/-/ready", timeout=1).status == 200

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def log_text(self) -> str:
        return (self.dir / "server.log").read_text(errors="replace")

    def targets(self, pool: str) -> tuple[list[dict], list[dict]]:
        """(active, dropped) targets of the scrape pool ``pool``, as Prometheus reports them."""
        data = call(self.url, "GET", "/api/v1/targets", timeout=5).body["data"]
        active = [t for t in data["activeTargets"] if t["scrapePool"] == pool]
        dropped = [t for t in data["droppedTargets"]
                   if t["discoveredLabels"].get("job") == pool]
        return active, dropped

    def addresses(self, pool: str) -> set[str]:
        return {t["discoveredLabels"]["__address__"] for t in self.targets(pool)[0]}


class VictoriaMetrics(Prometheus):
    """The single-node VictoriaMetrics server: its scraper takes Prometheus's scrape configs."""

    binary = VICTORIA
    package = "victoria-metrics"

    def argv(self) -> list[str]:
        return [self.binary, f"-promscrape.config={self.dir / 'prometheus.yml'}",
                f"-storageDataPath={self.dir / 'data'}", f"-httpListenAddr=127.0.0.1:{self.port}",
                # Its Consul watch re-reads every 30 s by default; discovery is what is tested.
                "-promscrape.consulSDCheckInterval=1s", "-promscrape.httpSDCheckInterval=1s",
                # Prometheus's refresh_interval is these flags here: let the same configs load.
                "-promscrape.config.strictParse=false",
                "-loggerLevel=INFO"]

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.package} exited: {self.log_text()[-3000:]}")
        return call(self.url, "GET", "/health", timeout=1).status == 200
