"""Issue 17, point 5: the soak. See ``python -m loadtests.soak --help`` and docs/operations.md, "Soak"."""
