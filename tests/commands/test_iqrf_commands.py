"""The router in front of the IQRF driver (simulated mesh over a pty): LED pulses and binary
outputs through the same command path as GPIO, with the allowlist per node."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from edgerun.commands import CommandRouter, CommandsConfig, CommandTopics, SeenIds
from edgerun.config.base import convert
from tests.commands.test_parts import MemoryTransport, Msg
from tests.iqrf.test_driver import rows_by, running, served, until

pytestmark = pytest.mark.anyio


async def test_led_pulse_and_binary_output_through_the_router(tmp_path: Path) -> None:
    topics = CommandTopics("edgerun", "gw1")
    async with (
        served("small", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data") as (driver, ctx),
    ):
        await until(lambda: len(rows_by(ctx, "co2")) >= 1)
        led_node = f"{sim.nodes[1].mid:08X}"
        relay_node = f"{sim.nodes[4].mid:08X}"
        cfg = convert(
            {
                "allow": [
                    {"driver": "mesh", "targets": [led_node], "actions": ["pulse"]},
                    {"driver": "mesh", "targets": [relay_node], "actions": ["set"]},
                ]
            },
            CommandsConfig,
        )
        transport = MemoryTransport()
        router = CommandRouter(
            cfg, topics, transport, {"mesh": driver}, SeenIds(tmp_path / "seen.db", 100, 3600)
        )

        def send(target: str, body: dict[str, object]) -> Msg:
            return Msg(topics.command_topic("mesh", target), json.dumps(body).encode())

        async with anyio.create_task_group() as tg:
            await tg.start(router.run)
            await transport.handler(
                send(led_node, {"id": "led-1", "action": "pulse", "args": {"color": "green"}})
            )
            await transport.handler(
                send(
                    relay_node,
                    {"id": "out-1", "action": "set", "args": {"output": 1, "value": True}},
                )
            )
            await transport.handler(send(relay_node, {"id": "led-2", "action": "pulse"}))
            await transport.handler(send("node-2", {"id": "led-3", "action": "pulse"}))
            await transport.wait(4)
            tg.cancel_scope.cancel()
        results = {body["id"]: body for _, body in transport.published}
        assert results["led-1"]["status"] == "ok"
        assert results["led-1"]["result"] == {"pulsed": "green"}
        assert sim.nodes[1].leds[-1][0] == "green"
        assert results["out-1"]["status"] == "ok"
        assert sim.nodes[4].outputs[1] != 0
        assert results["led-2"]["reason"] == "denied"
        assert results["led-3"]["reason"] == "denied"
        assert not sim.nodes[2].leds, "a node that is not allowlisted is never touched"
