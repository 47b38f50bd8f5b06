"""The HTTP layer's view of a node (node/store_protocol.py) is what both stores offer.

A fake store that drifted from the real one would let API tests pass
against an interface production does not have.
"""

import inspect

from manifest_node.consensus.store import Store
from manifest_node.store_protocol import RegistryStore
from tests.support.fake_store import FakeStore

MEMBERS = sorted(name for name, value in vars(RegistryStore).items()
                 if callable(value) and not name.startswith("_"))


def test_the_protocol_names_what_handlers_use():
    assert MEMBERS == ["accept_join", "add_listener", "add_member", "auth_view", "capture", "leader_propose_many",
                       "leader_read_index", "members", "propose", "read", "remove_member", "revision",
                       "service_revision", "start", "status", "stop", "sync"]


def test_the_real_and_the_fake_store_have_the_protocols_methods_and_signatures():
    for cls in (Store, FakeStore):
        for name in MEMBERS:
            want, got = inspect.signature(getattr(RegistryStore, name)), inspect.signature(getattr(cls, name))
            assert list(got.parameters) == list(want.parameters), f"{cls.__name__}.{name}{got} vs {want}"
            assert inspect.iscoroutinefunction(getattr(cls, name)) == \
                inspect.iscoroutinefunction(getattr(RegistryStore, name)), f"{cls.__name__}.{name}: async?"


def test_handlers_use_nothing_else_of_the_store():
    """Every ``store.<x>`` the API reads is in the Protocol (or its ``cfg``)."""
    import pathlib
    import re

    api = pathlib.Path(inspect.getfile(RegistryStore)).parent / "api"
    used = set()
    for path in api.rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"\bstore\.([a-z_]+)", text))
        used |= set(re.findall(r"app\[STORE\]\.([a-z_]+)", text))
    assert used - set(MEMBERS) - {"cfg"} == set()
