"""What the soak samples of one node without asking it: /proc of its process and its data directory."""

from __future__ import annotations

import os
from pathlib import Path

MB = 1 << 20
ESTABLISHED = "01"  # /proc/net/tcp's state column


def process(pid: int, api_port: int | None = None, client_pid: int | None = None) -> dict | None:
    """RSS (MB), open file descriptors and threads of ``pid``; None when it is gone.

    With ``api_port`` and ``client_pid``, also ``http_conns``: the inbound
    connections to ``api_port`` whose other end ``client_pid`` holds open
    (the load's connections: their number is the clients' pools' choice),
    and ``fds_own``: every other descriptor, the node's own. A socket the
    node keeps after its client closed (CLOSE_WAIT) or a connection nobody
    holds any more stays in ``fds_own``, so a leak cannot hide there.
    """
    try:
        names = os.listdir(f"/proc/{pid}/fd")
        fds = len(names)
        held = None if api_port is None or client_pid is None else _held_connections(pid, names, api_port,
                                                                                       client_pid)
        fields = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if fields.get("State", ["Z"])[0] == "Z":
        return None
    out = {"rss_mb": round(int(fields["VmRSS"][0]) / 1024, 2), "fds": fds, "threads": int(fields["Threads"][0]),
           "age_min": _age_min(pid)}
    if held is not None:
        out.update(http_conns=held, fds_own=fds - held)
    return out


def _age_min(pid: int) -> float | None:
    """Minutes since the process started (/proc/PID/stat's start time, in clock ticks since boot)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            after_name = f.read().rpartition(")")[2].split()  # the name may hold spaces and parentheses
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    started = int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22; after_name[0] is field 3
    return round((uptime - started) / 60, 3)


def _socket_inodes(pid: int, names: list[str] | None = None) -> set[str]:
    inodes = set()
    for name in names if names is not None else os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:  # closed between the listing and the readlink
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def tcp_table() -> dict[str, tuple[str, str, str]]:
    """inode -> (local address, remote address, state) of every TCP socket in this network namespace,
    addresses as /proc/net/tcp{,6} writes them (hex ``ADDR:PORT``), state in hex (``01`` established)."""
    table = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    table[cols[9]] = (cols[1], cols[2], cols[3])
        except FileNotFoundError:
            continue
    return table


def _held_connections(pid: int, names: list[str], api_port: int, client_pid: int) -> int:
    table = tcp_table()
    peers = {table[i][:2] for i in _socket_inodes(client_pid) if i in table and table[i][2] == ESTABLISHED}
    held = 0
    for inode in _socket_inodes(pid, names):
        local, remote, state = table.get(inode, ("", "", ""))
        if state == ESTABLISHED and int(local.rpartition(":")[2], 16) == api_port and (remote, local) in peers:
            held += 1
    return held



def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # compaction renames, snapshots replace: a file may go between listing and stat
        return 0


def data_dir(path: str) -> dict:
    """Journal, snapshot and audit log sizes (MB) and the number of snapshot files in a node's data dir."""
    d = Path(path)
    names = os.listdir(d) if d.is_dir() else []
    journal = sum(_size(d / n) for n in names if n.startswith("raft.journal"))
    snaps = [n for n in names if n.startswith("raft.snapshot")]
    audit = sum(_size(d / n) for n in names if n.startswith("audit.log"))
    return {"journal_mb": round(journal / MB, 3), "snapshot_count": len(snaps),
            "snapshot_mb": round(_size(d / "raft.snapshot") / MB, 3), "audit_mb": round(audit / MB, 3)}
