"""Every route of the compatibility views: (method, path, handler), the hottest first.

Who may call each is declared in node/auth/permissions.py ``COMPAT_ROUTES``
(the app refuses to start with a route missing there); handlers of writes
call ``access.allow_service`` / ``access.write`` once they know the service.
"""

from __future__ import annotations

from . import consul, consul_reads, eureka, prometheus_sd


def routes() -> list[tuple[str, str, object]]:
    return [
        # Consul: reads, the hottest first
        ("GET", "/v1/health/service/{name}", consul_reads.health_service),
        ("GET", "/v1/catalog/service/{name}", consul_reads.catalog_service),
        ("GET", "/v1/catalog/services", consul_reads.catalog_services),
        ("GET", "/v1/health/checks/{name}", consul_reads.health_checks),
        ("GET", "/v1/catalog/datacenters", consul_reads.catalog_datacenters),
        ("GET", "/v1/agent/services", consul_reads.agent_services),
        ("GET", "/v1/agent/checks", consul_reads.agent_checks),
        ("GET", "/v1/agent/self", consul_reads.agent_self),
        ("GET", "/v1/status/leader", consul_reads.status_leader),
        ("GET", "/v1/status/peers", consul_reads.status_peers),
        # Consul: the agent's writes
        ("PUT", "/v1/agent/service/register", consul.register),
        ("PUT", "/v1/agent/service/deregister/{id}", consul.deregister),
        ("PUT", "/v1/agent/service/maintenance/{id}", consul.maintenance),
        ("PUT", "/v1/agent/check/pass/{check_id}", consul.check_pass),
        ("PUT", "/v1/agent/check/warn/{check_id}", consul.check_warn),
        ("PUT", "/v1/agent/check/fail/{check_id}", consul.check_fail),
        ("PUT", "/v1/agent/check/update/{check_id}", consul.check_update),
        # Prometheus HTTP service discovery (ours: our own token, as http_sd_configs' authorization sends it)
        ("GET", "/v1/sd/prometheus", prometheus_sd.targets),
        # Eureka
        ("GET", "/eureka/apps/delta", eureka.delta),
        ("GET", "/eureka/apps/{app}", eureka.application),
        ("GET", "/eureka/apps", eureka.applications),
        ("GET", "/eureka/apps/", eureka.applications),
        ("GET", "/eureka/apps/{app}/{id}", eureka.app_instance),
        ("GET", "/eureka/instances/{id}", eureka.instance_by_id),
        ("POST", "/eureka/apps/{app}", eureka.register),
        ("PUT", "/eureka/apps/{app}/{id}", eureka.renew),
        ("DELETE", "/eureka/apps/{app}/{id}", eureka.cancel),
        ("PUT", "/eureka/apps/{app}/{id}/status", eureka.set_status),
        ("DELETE", "/eureka/apps/{app}/{id}/status", eureka.clear_status),
    ]
