"""Commands through a real mosquitto, the real uplink and the GPIO driver on a simulated chip.

The datacenter side is an independent MQTT 5 client. Readings of a sampled input travel
the whole way (driver → normalizer → queue → uplink → broker → subscriber) while allowed
and hostile commands are sent, so "readings keep flowing" is measured at the subscriber.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.commands.sender import Sender
from tests.commands.stack import build_stack
from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import Collector

pytestmark = pytest.mark.anyio

GW = "gw-cmd"
BASE = f"edgerun/{GW}"
RELAY_LINE = 17


def cmd_topic(driver: str, target: str) -> str:
    return f"{BASE}/cmd/{driver}/{target}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def hostile_commands() -> list[tuple[str, bytes, str | None, set[str]]]:
    """``(topic, payload, response topic, acceptable reasons)`` — each must be refused."""
    relay = cmd_topic("io", "relay")

    def js(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    ok = {"id": "x", "action": "set", "args": {"value": True}}
    return [
        # malformed: not a JSON object at all
        (relay, b"not json", None, {"malformed"}),
        (relay, b"", None, {"malformed"}),
        (relay, b'{"id": "h-3", "action": ', None, {"malformed"}),
        (relay, b"\xff\xfe\x00garbage", None, {"malformed"}),
        (relay, b"[1, 2, 3]", None, {"invalid"}),
        (relay, b'"set"', None, {"invalid"}),
        # schema violations
        (relay, js({"action": "set", "args": {"value": True}}), None, {"invalid"}),
        (relay, js({**ok, "id": "has space"}), None, {"invalid"}),
        (relay, js({**ok, "id": "x" * 65}), None, {"invalid"}),
        (relay, js({**ok, "id": "h-10", "action": "SET"}), None, {"invalid"}),
        (relay, js({**ok, "id": "h-11", "args": [1]}), None, {"invalid"}),
        (relay, js({**ok, "id": "h-12", "expires_at": -5}), None, {"invalid"}),
        (relay, js({**ok, "id": "h-13", "expires_at": 1.5e12}), None, {"invalid"}),
        (relay, js({**ok, "id": "h-14", "sudo": True}), None, {"invalid"}),
        (
            relay,
            js({**ok, "id": "h-15", "args": {f"k{i}": i for i in range(17)}}),
            None,
            {"invalid"},
        ),
        # not allowlisted: other target, other driver, other action
        (cmd_topic("io", "pump"), js({**ok, "id": "h-16"}), None, {"denied"}),
        (cmd_topic("other", "relay"), js({**ok, "id": "h-17"}), None, {"denied"}),
        (relay, js({**ok, "id": "h-18", "action": "reboot"}), None, {"denied"}),
        (cmd_topic("io", "door"), js({**ok, "id": "h-19"}), None, {"denied"}),
        # bad topics (the '+' levels match, the names are not valid)
        (f"{BASE}/cmd/io/", js({**ok, "id": "h-20"}), None, {"bad_topic"}),
        (f"{BASE}/cmd/io/re$lay", js({**ok, "id": "h-21"}), None, {"bad_topic"}),
        # oversized: refused before parsing (one of them is valid JSON)
        (
            relay,
            js({**ok, "id": "h-22", "args": {"value": True, "pad": "x" * 600}}),
            None,
            {"too_large"},
        ),
        (relay, b"{" * 100_000, None, {"too_large"}),
        # expiry
        (relay, js({**ok, "id": "h-24", "expires_at": now_ms() - 1000}), None, {"expired"}),
        (
            relay,
            js({**ok, "id": "h-25", "expires_at": now_ms() + 10 * 86_400_000}),
            None,
            {"expiry_too_far"},
        ),
        # replay of the allowed command that already ran
        (relay, js({"id": "ok-1", "action": "toggle"}), None, {"replayed"}),
        # allowlisted, but the driver refuses the arguments
        (
            relay,
            js({"id": "h-27", "action": "pulse", "args": {"duration": 999}}),
            None,
            {"bad_args"},
        ),
        (
            relay,
            js({"id": "h-28", "action": "set", "args": {"value": "maybe"}}),
            None,
            {"bad_args"},
        ),
        (relay, js({"id": "h-29", "action": "set", "args": {}}), None, {"bad_args"}),
        # a crafted response topic must not make the gateway publish into its own namespace;
        # the command itself is denied
        (cmd_topic("io", "pump"), js({**ok, "id": "h-30"}), f"{BASE}/data", {"denied"}),
    ]


async def test_allowed_command_toggles_output_and_hostile_ones_are_refused(
    broker: Mosquitto, tmp_path: Path
) -> None:
    stack = await build_stack(
        broker.url,
        tmp_path / "data",
        GW,
        gpio={
            "inputs": [
                {"name": "door", "line": 4, "mode": "level", "interval": 0.02, "bias": "pull_up"}
            ],
            "outputs": [{"name": "relay", "line": RELAY_LINE, "max_pulse": 5}],
        },
        commands={
            "allow": [
                {"driver": "io", "targets": ["relay"], "actions": ["set", "toggle", "pulse", "get"]}
            ],
            "max_payload": 512,
        },
    )
    router = stack.router
    collector = Collector(broker.host, broker.port)
    sender = Sender(broker.host, broker.port, ["replies/#", f"{BASE}/cmd-result/#"])

    def door_readings(since: float = 0.0) -> int:
        return sum(1 for t, rec in collector.arrivals if rec["dev"] == "io/door" and t >= since)

    async with anyio.create_task_group() as tg:
        await tg.start(collector.run)
        await tg.start(sender.run)
        chip = await stack.start(tg)
        await collector.wait_for(lambda: door_readings() >= 3, 10, "door readings arrive")
        # The uplink subscribes after it connects: probe with "get" until one is answered.
        probes = 0
        with anyio.fail_after(15):
            while not any(r.body.get("id", "").startswith("probe") for r in sender.results):
                probes += 1
                await sender.send(
                    cmd_topic("io", "relay"), {"id": f"probe-{probes}", "action": "get"}
                )
                with anyio.move_on_after(0.5):
                    await sender.wait_for(lambda: bool(sender.results), 1, "a probe answer")
        await sender.wait_for(
            lambda: len(sender.results) == probes, 5, "every probe that arrived is answered"
        )
        probe = sender.results[-1]
        assert probe.body["status"] == "ok"
        assert probe.body["result"] == {"value": False}
        answered_probes = len(sender.results)

        # 1. An allowed toggle with MQTT 5 response topic + correlation data.
        await sender.send(
            cmd_topic("io", "relay"),
            {"id": "ok-1", "action": "toggle", "expires_at": now_ms() + 60_000},
            response_topic="replies/ops",
            correlation=b"corr-ok-1",
        )
        await sender.wait_for(lambda: bool(sender.by_id("ok-1")), 5, "result of ok-1")
        (res,) = sender.by_id("ok-1")
        assert res.topic == "replies/ops"
        assert res.correlation == b"corr-ok-1"
        assert res.body["status"] == "ok"
        assert res.body["result"] == {"value": True}
        assert chip.level(RELAY_LINE) is True

        # 2. Without a response topic the result goes to the default result topic.
        await sender.send(
            cmd_topic("io", "relay"), {"id": "ok-2", "action": "set", "args": {"value": "off"}}
        )
        await sender.wait_for(lambda: bool(sender.by_id("ok-2")), 5, "result of ok-2")
        (res,) = sender.by_id("ok-2")
        assert res.topic == f"{BASE}/cmd-result/io/relay"
        assert res.body["status"] == "ok"
        assert chip.level(RELAY_LINE) is False
        writes_before = list(chip.writes)

        # 3. Hostile and broken commands, each with correlation data to match its result.
        hostile = hostile_commands()
        assert len(hostile) >= 20
        burst_start = time.monotonic()
        readings_before = door_readings(burst_start)
        for i, (topic, payload, response, _) in enumerate(hostile):
            await sender.send(
                topic, payload, response_topic=response or "replies/h", correlation=b"h%d" % i
            )
        await sender.wait_for(
            lambda: all(sender.by_correlation(b"h%d" % i) for i in range(len(hostile))),
            10,
            "a result for every hostile command",
        )
        for i, (topic, _, response, reasons) in enumerate(hostile):
            got = sender.by_correlation(b"h%d" % i)
            assert got is not None
            assert got.body["status"] == "error", (topic, got.body)
            assert got.body["reason"] in reasons, (i, topic, got.body)
            assert got.body["message"], "every refusal says why"
            if response is not None and response.startswith(BASE):
                assert got.topic == f"{BASE}/cmd-result/io/pump", "not into our namespace"
        # Ids are echoed when they could be read.
        assert sender.by_correlation(b"h15") is not None
        assert sender.by_correlation(b"h15").body["id"] == "h-16"  # type: ignore[union-attr]

        # Readings kept flowing during the burst and after it.
        await collector.wait_for(
            lambda: door_readings(burst_start) >= readings_before + 5,
            10,
            "door readings keep arriving during and after the hostile burst",
        )
        # The relay was touched only by the two allowed commands.
        assert chip.writes == writes_before
        assert chip.level(RELAY_LINE) is False
        tg.cancel_scope.cancel()

    stats = router.stats()
    assert stats.by_result["ok"] == 2 + answered_probes
    refused = sum(n for reason, n in stats.by_result.items() if reason != "ok")
    assert refused == len(hostile_commands())
    assert stats.by_result["replayed"] == 1
    assert stats.by_result["too_large"] == 2
    assert stats.executed == answered_probes + 2 + 3  # the bad_args ones reached the driver
    assert stats.results_lost == 0
    assert stats.overflow == 0
    relay_states = [rec["val"] for _, rec in collector.arrivals if rec["dev"] == "io/relay"]
    assert relay_states[-2:] == [True, False], "each output change is also a reading"
