"""Test support: real node processes on loopback with free ports."""
