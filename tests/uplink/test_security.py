"""Username/password, TLS and mTLS against a real mosquitto; failures are told apart."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import anyio
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.uplink import Uplink
from tests.support.mosquitto import Mosquitto
from tests.support.tls import TlsFiles, make_tls
from tests.uplink.helpers import Collector, gateway, memory_queue, row

pytestmark = pytest.mark.anyio


def cfg(url: str, **kw: Any) -> UplinkConfig:
    return convert(
        {"url": url, "backoff_base": 0.05, "backoff_cap": 0.2, "connect_timeout": 2, **kw},
        UplinkConfig,
    )


async def deliver(up: Uplink, col: Collector, n: int = 200) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(col.run)
        await tg.start(up.run)
        for i in range(n):
            up.queue.offer(row(i))
        await col.wait_for(lambda: len(col.ids) == n, 10, "readings arrive")
        tg.cancel_scope.cancel()


async def wait_stat(up: Uplink, cond: Any, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not cond(up.stats()):
            await anyio.sleep(0.02)  # polling stats with a deadline


async def refused(up: Uplink, cond: Any) -> Any:
    """Run ``up`` until its stats satisfy ``cond`` (failed attempts piling up); returns them."""
    async with anyio.create_task_group() as tg:
        await tg.start(up.run)
        await wait_stat(up, cond)
        tg.cancel_scope.cancel()
    return up.stats()


def client_ctx(tls: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tls.ca))
    ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    return ctx


async def test_password_accepted(tmp_path: Path) -> None:
    with Mosquitto(tmp_path, users={"gw": "s3cret", "dc": "dcpw"}) as b:
        up = Uplink(
            cfg(b.url, username="gw", password="s3cret"), gateway(), await memory_queue(), dict
        )
        await deliver(up, Collector(b.host, b.port, username="dc", password="dcpw"))
        assert up.stats().auth_failures == 0


async def test_wrong_password_is_an_auth_failure_with_backoff(tmp_path: Path) -> None:
    with Mosquitto(tmp_path, users={"gw": "s3cret"}) as b:
        up = Uplink(
            cfg(b.url, username="gw", password="wrong"), gateway(), await memory_queue(), dict
        )
        st = await refused(up, lambda s: s.auth_failures >= 3)
        assert st.connects == 0
        assert st.network_failures == 0
        assert st.tls_failures == 0
        assert "Bad user name or password" in st.last_error or "authori" in st.last_error
        assert up.backoff.attempt >= 3  # the backoff grew between attempts


@pytest.mark.parametrize("version", ["5", "3.1.1"])
async def test_tls_with_hostname_verification(tmp_path: Path, version: str) -> None:
    tls = make_tls(tmp_path / "pki")
    with Mosquitto(tmp_path, tls=tls) as b:
        url = f"mqtts://localhost:{b.port}"
        up = Uplink(
            cfg(url, ca_file=str(tls.ca), mqtt_version=version),
            gateway(),
            await memory_queue(),
            dict,
        )
        ctx = ssl.create_default_context(cafile=str(tls.ca))
        await deliver(up, Collector("localhost", b.port, tls_context=ctx))


async def test_tls_wrong_ca_is_refused(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki")
    other = make_tls(tmp_path / "other", ca_cn="someone else")
    with Mosquitto(tmp_path, tls=tls) as b:
        up = Uplink(cfg(b.url, ca_file=str(other.ca)), gateway(), await memory_queue(), dict)
        st = await refused(up, lambda s: s.tls_failures >= 2)
        assert st.connects == 0
        assert st.auth_failures == 0
        assert "certificate" in st.last_error.lower()


async def test_tls_hostname_mismatch_is_refused(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki", server_names=("broker.example",))
    with Mosquitto(tmp_path, tls=tls) as b:
        up = Uplink(cfg(b.url, ca_file=str(tls.ca)), gateway(), await memory_queue(), dict)
        st = await refused(up, lambda s: s.tls_failures >= 2)
        assert st.connects == 0
        assert "mismatch" in st.last_error.lower() or "match" in st.last_error.lower()


async def test_tls_insecure_connects_despite_mismatch_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tls = make_tls(tmp_path / "pki", server_names=("broker.example",))
    with Mosquitto(tmp_path, tls=tls) as b:
        up = Uplink(cfg(b.url, tls_insecure=True), gateway(), await memory_queue(), dict)
        ctx = ssl.create_default_context(cafile=str(tls.ca))
        ctx.check_hostname = False
        await deliver(up, Collector(b.host, b.port, tls_context=ctx))
    assert any("NOT verified" in r.getMessage() for r in caplog.records)


async def test_mtls(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki")
    with Mosquitto(tmp_path, tls=tls, require_certificate=True) as b:
        up = Uplink(
            cfg(
                b.url,
                ca_file=str(tls.ca),
                cert_file=str(tls.client_cert),
                key_file=str(tls.client_key),
            ),
            gateway(),
            await memory_queue(),
            dict,
        )
        await deliver(up, Collector(b.host, b.port, tls_context=client_ctx(tls)))
        # Without a client certificate the broker refuses the gateway.
        bare = Uplink(
            cfg(b.url, ca_file=str(tls.ca)), gateway("gw-bare"), await memory_queue(), dict
        )
        st = await refused(bare, lambda s: s.tls_failures >= 2)
        assert st.connects == 0
        assert st.network_failures == 0
        assert "certificate" in st.last_error
