"""Background writers that record exactly which writes were acknowledged."""

from __future__ import annotations

import itertools
import threading
import time

from .http import call


class Writers:
    """``n`` threads registering unique instances round-robin over ``urls``."""

    def __init__(self, urls, n: int = 6, service: str = "load", ttl: float = 3600):
        self.urls = list(urls)
        self.n, self.service, self.ttl = n, service, ttl
        self.acked: dict[str, float] = {}  # id -> time acknowledged
        self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self):
        for t in range(self.n):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(10)

    def _run(self, t: int) -> None:
        for seq in itertools.count():
            if self._stop.is_set():
                return
            iid = f"w{t}-{seq}"
            url = self.urls[(t + seq) % len(self.urls)]
            try:
                r = call(url, "POST", "/v1/services", {"name": self.service, "id": iid, "ttl": self.ttl},
                         timeout=3)
                ok = r.status in (200, 201)
            except OSError:
                ok = False
            with self._lock:
                if ok:
                    self.acked[iid] = time.monotonic()
                else:
                    self.failed += 1
            if not ok:
                time.sleep(0.02)

    def acked_after(self, t: float) -> list[float]:
        with self._lock:
            return sorted(v for v in self.acked.values() if v > t)
