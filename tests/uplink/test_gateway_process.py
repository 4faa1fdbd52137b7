"""The real runtime process (``edgerun run``) against a real mosquitto.

SIGKILL leaves no chance to say goodbye: the broker must publish the gateway's Last Will
(retained ``offline``); a restarted gateway announces ``online`` again and its readings
arrive, decodable per docs/payload.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
