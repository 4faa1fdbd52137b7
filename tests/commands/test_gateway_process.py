"""Commands in the real runtime process (``edgerun run -c FILE``) with a real mosquitto.

A command switches a GPIO output on (simulated chip mirrored to a file), the gateway is
killed with SIGKILL, and the restarted gateway must put the output back to its safe state
before it reports ready, notice the unclean stop, and still refuse the old command id as a
replay (the seen-id store is on disk).
"""

from __future__ import annotations

import inspect
import json
import signal
from pathlib import Path

import anyio
import pytest
from edgerun_gpio.chips.sim import read_sim_file

import edgerun.supervisor
from tests.commands.sender import Sender
from tests.support.mosquitto import Mosquitto
from tests.support.proc import EdgerunProcess

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        "build_router" not in inspect.getsource(edgerun.supervisor),
        reason="the supervisor does not start the command router yet",
    ),
]

GW = "gw-cmdproc"
TOPIC = f"edgerun/{GW}/cmd/io/heater"
LINE = 21


def write_config(path: Path, broker: Mosquitto, data: Path, sim_file: Path) -> Path:
    path.write_text(
        f"""
[gateway]
id = "{GW}"
data_dir = "{data}"
[queue]
backend = "memory"
[uplink]
url = "{broker.url}"
[commands]
[[commands.allow]]
driver = "io"
targets = ["heater"]
actions = ["set", "get"]
[[drivers]]
type = "gpio"
name = "io"
backend = "sim"
sim_file = "{sim_file}"
[[drivers.outputs]]
name = "heater"
line = {LINE}
safe_state = false
"""
    )
    return path


async def answered(sender: Sender, command: dict[str, object]) -> dict[str, object]:
    """Send until answered: the router subscribes after the uplink connects."""
    cid = str(command["id"])
    with anyio.fail_after(20):
        while not sender.by_id(cid):
            await sender.send(TOPIC, command, response_topic="replies/gw")
            with anyio.move_on_after(0.5):
                await sender.wait_for(lambda: bool(sender.by_id(cid)), 1, "answer")
    return sender.by_id(cid)[0].body


async def test_safe_state_after_sigkill_and_replay_refused_after_restart(
    broker: Mosquitto, tmp_path: Path
) -> None:
    sim_file = tmp_path / "chip.json"
    config = write_config(tmp_path / "gw.toml", broker, tmp_path / "data", sim_file)
    sender = Sender(broker.host, broker.port, ["replies/#"])
    async with anyio.create_task_group() as tg:
        await tg.start(sender.run)
        with EdgerunProcess(["run", "-c", str(config)]) as gw:
            await anyio.to_thread.run_sync(gw.wait_for_log, r"ready: 1 driver")
            assert read_sim_file(sim_file)[LINE] is False
            body = await answered(sender, {"id": "heat-1", "action": "set", "args": {"value": 1}})
            assert body["status"] == "ok", body
            assert read_sim_file(sim_file)[LINE] is True
            gw.kill()
        assert read_sim_file(sim_file)[LINE] is True, "an orphaned line keeps its level"

        with EdgerunProcess(["run", "-c", str(config)]) as gw:
            await anyio.to_thread.run_sync(gw.wait_for_log, r"ready: 1 driver")
            assert read_sim_file(sim_file)[LINE] is False, "safe state before ready"
            assert any("outputs away from their safe state" in line for line in gw.lines)
            sender.results.clear()
            await sender.send(
                TOPIC,
                {"id": "heat-1", "action": "set", "args": {"value": 1}},
                response_topic="replies/gw",
            )
            # The first message may arrive before the router's subscription: probe after it.
            body = await answered(sender, {"id": "probe-1", "action": "get"})
            assert body["result"] == {"value": False}
            if sender.by_id("heat-1"):
                assert sender.by_id("heat-1")[0].body["reason"] == "replayed"
            await sender.send(
                TOPIC,
                {"id": "heat-1", "action": "set", "args": {"value": 1}},
                response_topic="replies/gw",
            )
            await sender.wait_for(
                lambda: any(r.body.get("reason") == "replayed" for r in sender.by_id("heat-1")),
                10,
                "the replay is refused after the restart",
            )
            assert read_sim_file(sim_file)[LINE] is False
            gw.signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(gw.wait, 20) == 0
        state = json.loads((tmp_path / "data" / "drivers" / "io" / "state.json").read_text())
        assert state["clean"] is True
        tg.cancel_scope.cancel()
