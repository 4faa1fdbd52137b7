"""The real runtime process (``edgerun run``) against a real mosquitto.

SIGKILL leaves no chance to say goodbye: the broker must publish the gateway's Last Will
(retained ``offline``); a restarted gateway announces ``online`` again and its readings
arrive, decodable per docs/payload.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import Collector

pytestmark = pytest.mark.anyio

EDGERUN = str(Path(sys.executable).with_name("edgerun"))
STATUS = "edgerun/gw-proc/status"


def write_config(path: Path, broker: Mosquitto, data: Path) -> Path:
    path.write_text(
        f"""
[gateway]
id = "gw-proc"
data_dir = "{data}"
[queue]
backend = "memory"
[uplink]
url = "{broker.url}"
keepalive = 5
[[drivers]]
type = "synthetic"
name = "syn"
devices = 4
rate = 200
values = "sequence"
"""
    )
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [EDGERUN, "run", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, env=os.environ
    )


async def test_sigkill_publishes_will_then_online_again(broker: Mosquitto, tmp_path: Path) -> None:
    config = write_config(tmp_path / "gw.toml", broker, tmp_path / "data")
    col = Collector(broker.host, broker.port)
    proc = start(config, tmp_path / "gw.log")
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(col.run)
            await col.wait_for(
                lambda: col.status.get(STATUS, {}).get("state") == "online" and len(col.ids) > 50,
                20,
                "gateway online and shipping",
            )
            first = col.status[STATUS]
            assert first["drivers"]["syn"]["state"] == "running"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            await col.wait_for(
                lambda: col.status[STATUS]["state"] == "offline", 15, "the Last Will arrives"
            )
            assert col.status[STATUS]["reason"] == "connection lost"
            before = len(col.ids)
            proc = start(config, tmp_path / "gw.log")
            await col.wait_for(
                lambda: col.status[STATUS]["state"] == "online" and len(col.ids) > before + 50,
                20,
                "online again after restart",
            )
            assert col.status[STATUS]["started"] > first["started"]
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
            assert proc.returncode == 0
            await col.wait_for(
                lambda: col.status[STATUS]["state"] == "offline", 10, "clean offline"
            )
            assert col.status[STATUS]["reason"] == "shutdown"
            tg.cancel_scope.cancel()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(doc["gw"] == "gw-proc" for doc in col.docs)


def start_tail(broker: Mosquitto, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EDGERUN, "tail", "--url", broker.url, "--json", "--count", str(n), "--no-status"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_runtime_to_tail_end_to_end(broker: Mosquitto, tmp_path: Path) -> None:
    """``edgerun run`` (synthetic, durable queue) -> mosquitto -> ``edgerun tail --json``."""
    n = 3000
    tail = start_tail(broker, n)
    config = tmp_path / "gw.toml"
    config.write_text(
        f"""
[gateway]
id = "gw-e2e"
data_dir = "{tmp_path / "data"}"
[uplink]
url = "{broker.url}"
compression = "zlib"
[[drivers]]
type = "synthetic"
name = "syn"
devices = 3
rate = 0
count = {n}
values = "sequence"
"""
    )
    gw: subprocess.Popen[bytes] | None = None
    try:
        assert tail.stderr is not None
        with anyio.fail_after(15):
            line = await anyio.to_thread.run_sync(tail.stderr.readline)
        assert line.startswith("connected to"), line
        gw = start(config, tmp_path / "gw.log")
        out, err = await anyio.to_thread.run_sync(lambda: tail.communicate(timeout=60))
    finally:
        for p in (tail, gw):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert tail.returncode == 0, err
    recs = [json.loads(x) for x in out.splitlines()]
    assert len(recs) == n
    assert sorted(r["val"] for r in recs) == list(range(n)), "every sequence value once"
    assert {r["gw"] for r in recs} == {"gw-e2e"}
    assert {r["dev"] for r in recs} == {"syn/dev-0", "syn/dev-1", "syn/dev-2"}
    assert len({r["id"] for r in recs}) == n


async def test_will_delay_hides_a_quick_restart(broker: Mosquitto, tmp_path: Path) -> None:
    """MQTT 5 Will Delay: a gateway back within the delay raises no "offline"; one that
    stays away is reported offline once the delay has passed."""
    config = write_config(tmp_path / "gw.toml", broker, tmp_path / "data")
    config.write_text(
        config.read_text().replace("keepalive = 5", 'keepalive = 5\nwill_delay = "3s"')
    )
    col = Collector(broker.host, broker.port)
    proc = start(config, tmp_path / "gw.log")
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(col.run)
            await col.wait_for(
                lambda: col.status.get(STATUS, {}).get("state") == "online", 20, "online"
            )
            first = col.status[STATUS]["started"]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            killed = time.monotonic()
            proc = start(config, tmp_path / "gw.log")
            await col.wait_for(
                lambda: col.status[STATUS]["started"] > first, 20, "online after the restart"
            )
            while time.monotonic() - killed < 4.0:  # past the will delay
                await anyio.sleep(0.1)
            assert [s["state"] for s in col.status_history] == ["online", "online"]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            killed = time.monotonic()
            await col.wait_for(
                lambda: col.status[STATUS]["state"] == "offline", 15, "the delayed will"
            )
            assert time.monotonic() - killed >= 2.5, "the broker waited for the delay"
            tg.cancel_scope.cancel()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
