import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from tests.support.fake_store import FakeStore


@pytest.fixture
def store():
    return FakeStore(NodeConfig(max_body=4096))


@pytest.fixture
async def client(aiohttp_client, store):
    return await aiohttp_client(create_app(store, store.cfg))
