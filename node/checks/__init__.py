"""Active health checks, run by the leader only (docs/api.md, "Health checks")."""
