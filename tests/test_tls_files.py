"""node/tls.py: contexts from the certificate files, reloaded in place when they change (issue 12)."""

import asyncio
import shutil

import pytest

from manifest_node.config import NodeConfig
from manifest_node.errors import StartupError
from manifest_node.tls import TLSFiles, load
from tests.support.certs import CA


def _cfg(ca, issued, **kw) -> NodeConfig:
    return NodeConfig(tls_cert=issued.cert, tls_key=issued.key, tls_client_ca=ca.cert, **kw)


async def test_a_changed_file_is_reloaded_into_the_same_contexts(tmp_path):
    ca = CA(tmp_path)
    issued = ca.issue("n1")
    tls = TLSFiles(_cfg(ca, issued, tls_reload_interval=0.05))
    server, client = tls.server, tls.client
    watcher = asyncio.get_running_loop().create_task(tls.watch())
    try:
        fresh = ca.issue("n1", tag="new")
        shutil.copy(fresh.key, issued.key)
        shutil.copy(fresh.cert, issued.cert)
        for _ in range(100):
            if tls.reloads:
                break
            await asyncio.sleep(0.02)
        assert tls.reloads == 1 and tls.server is server and tls.client is client
    finally:
        watcher.cancel()


def test_files_that_do_not_load_keep_the_old_certificate(tmp_path, caplog):
    ca = CA(tmp_path)
    issued = ca.issue("n1")
    tls = TLSFiles(_cfg(ca, issued))
    open(issued.key, "w").write("not a key")
    assert tls.reload() is False and tls.reloads == 0 and "still serving the previous" in caplog.text
    assert not tls.changed()  # the broken files are not retried every interval


def test_a_certificate_that_does_not_load_at_start_is_a_startup_error(tmp_path):
    with pytest.raises(StartupError, match="tls_cert"):
        load(NodeConfig(tls_cert=str(tmp_path / "missing.pem"), tls_key=str(tmp_path / "missing.key")))
    assert load(NodeConfig()) is None


def test_tls_settings_are_checked_together():
    from manifest_node.config import ConfigError

    for kw, field in [({"tls_cert": "a"}, "tls_key"), ({"tls_key": "a"}, "tls_cert"),
                      ({"tls_client_ca": "a"}, "tls_client_ca"), ({"tls_cert_roles": ("x=root",)}, "tls_cert_roles"),
                      ({"bootstrap_token": "short"}, "bootstrap_token")]:
        with pytest.raises(ConfigError) as err:
            NodeConfig(insecure=True, **kw).validate()
        assert err.value.field == field, kw
    assert NodeConfig(api="127.0.0.1:1", tls_cert="c", tls_key="k").api_url.startswith("https://")
