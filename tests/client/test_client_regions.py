"""Federation in the client: ``region`` and ``failover`` reach the query string, labelled records keep their region."""

from __future__ import annotations

from manifest_client import AsyncRegistry, MockTransport, Registry, Response

ANSWER = {"instances": [{"name": "api", "id": "a1", "status": "up", "region": "eu"}], "revision": 3,
          "regions": {"eu": {"status": 200, "count": 1}}, "unavailable": []}


class Fake:
    def __init__(self):
        self.seen = []

    def __call__(self, request):
        self.seen.append(request.target)
        return Response.from_json(200, ANSWER)


def test_region_and_failover_are_sent_and_the_region_label_kept():
    fake = Fake()
    with Registry("http://n1:8500", transport=MockTransport(fake), discover_members=False, retries=0,
                  live=True) as reg:
        found = reg.discover("api", region="*")
        assert "region=%2A" in fake.seen[-1] or "region=*" in fake.seen[-1]
        assert found[0].extra["region"] == "eu"
        reg.discover("api", failover=True)
        assert "failover=true" in fake.seen[-1] and "status=up" in fake.seen[-1]
        reg.discover("api", failover="nearest")
        assert "failover=nearest" in fake.seen[-1]
        reg.list_instances(service="api", region="eu")
        assert fake.seen[-1].startswith("/v1/services/api?") and "region=eu" in fake.seen[-1]


async def test_the_async_client_sends_them_too():
    fake = Fake()
    async with AsyncRegistry("http://n1:8500", transport=MockTransport(fake), discover_members=False) as reg:
        await reg.discover("api", region="eu", failover=False)
        assert "region=eu" in fake.seen[-1] and "failover" not in fake.seen[-1]
        await reg.list_instances(region="*")
        assert fake.seen[-1].startswith("/v1/services?")
