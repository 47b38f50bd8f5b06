"""The pure registry state machine: no clock, no randomness, no I/O.

Everything here is deterministic so that every node applying the same log
reaches the same state. Time and identities arrive inside commands.
"""
