"""Authentication and authorisation of the public API, its audit log and rate limits (issue 12).

``permissions`` is the one table of what each role may do on each route;
``tokens`` mints and verifies tokens against the replicated token state
(``fsm/tokens.py``, read through the store Protocol); ``guard`` wraps each
route once at start-up with authentication, the permission check, the rate
limit (``ratelimit``) and the audit line (``audit``). docs/security.md has
the threat model.
"""
