"""Fault-injection ("chaos") suite for Manifest, with a linearizability checker.

A real cluster runs one node per network namespace (or, without
CAP_NET_ADMIN, on loopback behind a userspace proxy); a seeded nemesis kills,
pauses, partitions, delays and skews nodes while workloads record histories;
checkers judge the histories afterwards. See docs/chaos.md.
"""
