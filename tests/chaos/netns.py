"""One network namespace per node, joined by a bridge; faults are iptables rules inside them.

Layout for run slot X (1..250, claimed atomically by creating bridge
``mchaosX``): bridge ``10.99.X.1/24`` in the root namespace, node i in
namespace ``mchaosX-ni`` with ``10.99.X.(10+i)`` on a veth whose root end
``mchaosXvi`` is a bridge port. Addresses exist only inside these namespaces.

Node-to-node connections go through the delay proxy: in each node's
namespace nat OUTPUT rules send ``peer:raft`` and ``peer:api`` to
``10.99.X.1:<link port>`` where the proxy listens (``proxy.py``); the proxy
connects onwards from ``10.99.X.(100+i)`` for node i, so the receiving side
still knows which peer a packet is from. Partitions and loss are filter rules in chains
``CHAOS_IN``/``CHAOS_OUT`` of the node's namespace, rewritten whole with
``iptables-restore --noflush``. A pair is cut when each side drops packets
to/from the other's address and alias, and packets of connections originally
addressed to it (``conntrack --ctorigdst``: what it sent into the proxy).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .cleanup import Ledger, run_quiet

RAFT_PORT, API_PORT = 8501, 8500


class NetnsUnavailable(RuntimeError):
    pass


def ensure_tools() -> None:
    """Install iptables from Debian when missing (the suite needs it, it never skips)."""
    if shutil.which("iptables") and shutil.which("iptables-restore"):
        return
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "iptables"], capture_output=True, timeout=300, env=env)
    if not shutil.which("iptables-restore"):
        raise NetnsUnavailable("iptables is missing and could not be installed")


def _ip(*args: str) -> None:
    r = run_quiet(["ip", *args])
    if r.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {r.stderr.strip()}")


class Topology:
    def __init__(self, size: int, ledger: Ledger):
        self.size, self.ledger = size, ledger
        self.slot: int | None = None

    # ---- names and addresses --------------------------------------------------
    @property
    def bridge(self) -> str:
        return f"mchaos{self.slot}"

    @property
    def bridge_ip(self) -> str:
        return f"10.99.{self.slot}.1"

    def ns(self, i: int) -> str:
        return f"mchaos{self.slot}-n{i}"

    def ip_of(self, i: int) -> str:
        return f"10.99.{self.slot}.{10 + i}"

    def alias_of(self, i: int) -> str:
        """Bridge address the proxy sends node i's connections from, so peers can tell who it is."""
        return f"10.99.{self.slot}.{100 + i}"

    def proxy_port(self, src: int, dst: int) -> int:
        return 9000 + 10 * src + dst

    def prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.ns(i)]

    # ---- creation -------------------------------------------------------------
    def create(self, first_slot: int) -> None:
        ensure_tools()
        routes = run_quiet(["ip", "-4", "route", "show"]).stdout
        for k in range(250):
            slot = 1 + (first_slot + k) % 250
            if f"10.99.{slot}." in routes:
                continue
            self.ledger.add("links", f"mchaos{slot}")
            if run_quiet(["ip", "link", "add", f"mchaos{slot}", "type", "bridge"]).returncode == 0:
                self.slot = slot
                break
            self.ledger.data["links"].remove(f"mchaos{slot}")  # someone else's slot
        else:
            raise NetnsUnavailable("no free 10.99.X.0/24 slot (or no CAP_NET_ADMIN)")
        _ip("addr", "add", f"{self.bridge_ip}/24", "dev", self.bridge)
        for i in range(1, self.size + 1):
            _ip("addr", "add", f"{self.alias_of(i)}/32", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(1, self.size + 1):
            ns, veth = self.ns(i), f"mchaos{self.slot}v{i}"
            self.ledger.add("netns", ns)
            _ip("netns", "add", ns)
            self.ledger.add("links", veth)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.ip_of(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            self._restore(i, self._base_rules(i), noflush=False)

    def _base_rules(self, i: int) -> str:
        lines = ["*nat", ":OUTPUT ACCEPT [0:0]"]
        for p in range(1, self.size + 1):
            if p != i:  # Raft and forwarded API calls to a peer both go through the proxy
                for port, offset in ((RAFT_PORT, 0), (API_PORT, 100)):
                    lines.append(f"-A OUTPUT -p tcp -d {self.ip_of(p)} --dport {port} -j DNAT "
                                 f"--to-destination {self.bridge_ip}:{self.proxy_port(i, p) + offset}")
        lines += ["COMMIT", "*filter", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                  ":CHAOS_IN - [0:0]", ":CHAOS_OUT - [0:0]", ":CHAOS_LOSS - [0:0]",
                  "-A INPUT -j CHAOS_IN", "-A OUTPUT -j CHAOS_OUT", "COMMIT", ""]
        return "\n".join(lines)

    def _restore(self, i: int, rules: str, noflush: bool = True) -> None:
        args = [*self.prefix(i), "iptables-restore"] + (["--noflush"] if noflush else [])
        r = subprocess.run(args, input=rules, capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise NetnsUnavailable(f"iptables-restore in {self.ns(i)}: {r.stderr.strip()}\n{rules}")

    # ---- faults ---------------------------------------------------------------
    def apply(self, blocked: set[frozenset], loss: dict[int, float]) -> None:
        """Make node namespaces drop exactly: every pair in ``blocked``; ``loss[i]`` of i's peer traffic.

        Loss rules live only in the lossy node's namespace and every peer
        packet meets one coin (``CHAOS_LOSS`` accepts the survivors).
        """
        for i in range(1, self.size + 1):
            rules = ["*filter", ":CHAOS_IN - [0:0]", ":CHAOS_OUT - [0:0]", ":CHAOS_LOSS - [0:0]"]
            peers = [p for p in range(1, self.size + 1) if p != i]
            for p in peers:
                if frozenset((i, p)) in blocked:
                    rules += self._peer_rules(p, "-j DROP")
            if loss.get(i):
                rules.append(f"-A CHAOS_LOSS -m statistic --mode random --probability {loss[i]} -j DROP")
                rules.append("-A CHAOS_LOSS -j ACCEPT")
                for p in peers:
                    rules += self._peer_rules(p, "-j CHAOS_LOSS")
            rules += ["COMMIT", ""]
            self._restore(i, "\n".join(rules))

    def _peer_rules(self, p: int, action: str) -> list[str]:
        """Traffic with peer p: direct, through the proxy from p (source p's alias), or to p via the proxy."""
        ip, alias = self.ip_of(p), self.alias_of(p)
        return [f"-A CHAOS_OUT -d {ip} {action}", f"-A CHAOS_OUT -d {alias} {action}",
                f"-A CHAOS_OUT -m conntrack --ctorigdst {ip} {action}",
                f"-A CHAOS_IN -s {ip} {action}", f"-A CHAOS_IN -s {alias} {action}",
                f"-A CHAOS_IN -m conntrack --ctorigdst {ip} {action}"]

    def rules_text(self) -> str:
        out = []
        for i in range(1, self.size + 1):
            r = run_quiet([*self.prefix(i), "iptables-save"])
            out.append(f"# {self.ns(i)}\n{r.stdout}")
        return "\n".join(out)


def netns_possible() -> bool:
    """Can this process create namespaces and filter in them? (CAP_NET_ADMIN, ip, iptables)."""
    if shutil.which("ip") is None:
        return False
    probe = f"mchaos-probe-{os.getpid()}"
    if run_quiet(["ip", "netns", "add", probe]).returncode != 0:
        return False
    run_quiet(["ip", "netns", "del", probe])
    try:
        ensure_tools()
    except (NetnsUnavailable, OSError, subprocess.SubprocessError):
        return False
    return True
