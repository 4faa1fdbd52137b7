"""The command path's parts alone: topics, schema, replay store, config, router limits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from edgerun.api import CommandError, Driver, DriverConfig, DriverContext
from edgerun.commands import CommandRouter, CommandsConfig, CommandTopics, SeenIds
from edgerun.commands.message import Refusal, decode_command
from edgerun.commands.topics import TopicError
from edgerun.config.base import ConfigError, convert

T = CommandTopics("site/a", "gw1")


def test_topics_parse_and_build() -> None:
    assert T.command_filter == "site/a/gw1/cmd/+/+"
    assert T.parse("site/a/gw1/cmd/io/relay") == ("io", "relay")
    assert T.result_topic("io", "relay") == "site/a/gw1/cmd-result/io/relay"
    for bad in [
        "site/a/gw2/cmd/io/relay",
        "site/a/gw1/cmd/io",
        "site/a/gw1/cmd/io/r/x",
        "site/a/gw1/cmd//relay",
        "site/a/gw1/cmd/io/re lay",
    ]:
        with pytest.raises(TopicError):
            T.parse(bad)


def test_response_topics_outside_our_namespace_only() -> None:
    T.check_response_topic("replies/ops-1")
    T.check_response_topic("site/a/gw1/cmd-result/custom")
    for bad in ["", "replies/#", "a/+/b", "site/a/gw1/data", "site/a/gw1/cmd/io/relay", "x" * 300]:
        with pytest.raises(TopicError):
            T.check_response_topic(bad)


def test_schema() -> None:
    cmd = decode_command(b'{"id": "c1", "action": "pulse", "args": {"duration": 2}}')
    assert (cmd.id, cmd.action, cmd.args, cmd.expires_at) == ("c1", "pulse", {"duration": 2}, None)
    with pytest.raises(Refusal) as info:
        decode_command(b'{"id": "c1"}')
    assert info.value.reason == "invalid"
    assert "action" in info.value.message


def test_seen_ids_survive_reopen_and_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "seen.db"
    seen = SeenIds(path, capacity=100, ttl_s=3600)
    assert seen.add("a", now_ms=1_000)
    assert not seen.add("a", now_ms=2_000)
    seen.close()
    seen = SeenIds(path, capacity=100, ttl_s=3600)
    assert not seen.add("a", now_ms=3_000), "a restart does not forget"
    for i in range(300):
        seen.add(f"id-{i}", now_ms=10_000 + i)
    seen.prune(now_ms=10_400)
    assert len(seen) == 100
    assert not seen.add("id-299", now_ms=10_500), "the newest are kept"
    seen.prune(now_ms=10_000 + 3_600_000 + 1_000)
    assert len(seen) == 0, "ids older than the ttl are forgotten"
    seen.close()


def test_corrupt_seen_store_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "seen.db"
    path.write_bytes(b"this is not a database" * 100)
    seen = SeenIds(path, capacity=10, ttl_s=60)
    assert seen.resets == 1
    assert seen.add("x")
    assert (tmp_path / "seen.db.corrupt").exists()
    seen.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM seen").fetchone() == (1,)


def test_config_checks() -> None:
    cfg = convert(
        {"allow": [{"driver": "io", "targets": ["*"], "actions": ["get"]}]}, CommandsConfig
    )
    assert cfg.allows("io", "any", "get")
    assert not cfg.allows("io", "any", "set")
    assert not cfg.allows("io2", "any", "get")
    with pytest.raises(ConfigError, match="max_inflight"):
        convert({"max_inflight": 0}, CommandsConfig)
    with pytest.raises(ConfigError, match="allow"):
        convert({"allow": [{"driver": "io"}]}, CommandsConfig)


class MemoryTransport:
    """The uplink's two methods, in memory."""

    def __init__(self) -> None:
        self.handler: Any = None
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.changed = anyio.Event()

    def subscribe(self, topic_filter: str, handler: Any) -> None:
        self.handler = handler

    async def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, properties: Any = None
    ) -> None:
        self.published.append((topic, json.loads(payload)))
        self.changed.set()
        self.changed = anyio.Event()

    async def wait(self, n: int) -> None:
        with anyio.fail_after(5):
            while len(self.published) < n:
                await self.changed.wait()


class Msg:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload, self.properties = topic, payload, None


class SlowConfig(DriverConfig):
    pass


class Slow(Driver[SlowConfig]):
    """Hangs in every command until released; raises for target 'boom'."""

    config_type = SlowConfig

    def __init__(self, name: str, config: SlowConfig) -> None:
        super().__init__(name, config)
        self.release = anyio.Event()

    async def run(self, ctx: DriverContext) -> None:
        await anyio.sleep_forever()

    async def command(self, target: str, action: str, args: Any) -> Any:
        if target == "boom":
            raise ZeroDivisionError("bug in driver")
        if target == "no":
            raise CommandError("nope", "refused by driver")
        await self.release.wait()
        return 1


@pytest.mark.anyio
async def test_router_timeouts_busy_and_driver_bugs(tmp_path: Path) -> None:
    cfg = convert(
        {
            "allow": [{"driver": "d", "targets": ["*"], "actions": ["*"]}],
            "timeout": 0.2,
            "max_inflight": 2,
        },
        CommandsConfig,
    )
    transport = MemoryTransport()
    driver = Slow("d", SlowConfig())
    router = CommandRouter(cfg, T, transport, {"d": driver}, SeenIds(tmp_path / "s.db", 10, 60))

    def send(target: str, cid: str) -> Msg:
        return Msg(f"site/a/gw1/cmd/d/{target}", json.dumps({"id": cid, "action": "go"}).encode())

    async with anyio.create_task_group() as tg:
        await tg.start(router.run)
        await transport.handler(send("t", "slow-1"))
        await transport.handler(send("t", "slow-2"))
        await transport.handler(send("t", "slow-3"))  # over max_inflight
        await transport.handler(send("boom", "bug-1"))  # busy too, still two running
        await transport.wait(2)
        busy = {p["id"]: p["reason"] for _, p in transport.published}
        assert busy == {"slow-3": "busy", "bug-1": "busy"}
        await transport.wait(4)  # the two slow ones time out
        await transport.handler(send("boom", "bug-2"))
        await transport.handler(send("no", "no-1"))
        driver.release.set()
        await transport.handler(send("t", "fast-1"))
        await transport.wait(7)
        tg.cancel_scope.cancel()
    reasons = {p["id"]: p.get("reason", p["status"]) for _, p in transport.published}
    assert reasons == {
        "slow-1": "timeout",
        "slow-2": "timeout",
        "slow-3": "busy",
        "bug-1": "busy",
        "bug-2": "failed",
        "no-1": "nope",
        "fast-1": "ok",
    }
    assert "ZeroDivisionError" in next(
        p["message"] for _, p in transport.published if p["id"] == "bug-2"
    )
    assert router.stats().inflight == 0


@pytest.mark.anyio
async def test_a_flood_is_bounded(tmp_path: Path) -> None:
    cfg = convert({"max_pending": 8}, CommandsConfig)
    transport = MemoryTransport()
    router = CommandRouter(cfg, T, transport, {}, SeenIds(tmp_path / "s.db", 10, 60))
    router.transport.subscribe("x", router.on_message)
    for i in range(1000):  # nobody is checking yet: the queue fills, the rest is counted
        await router.on_message(Msg("site/a/gw1/cmd/d/t", b"{}" * i))
    st = router.stats()
    assert st.received == 1000
    assert st.overflow == 1000 - 8


@pytest.mark.anyio
async def test_an_unwritable_replay_store_refuses_commands(tmp_path: Path) -> None:
    cfg = convert({"allow": [{"driver": "d", "targets": ["*"], "actions": ["*"]}]}, CommandsConfig)
    transport = MemoryTransport()
    driver = Slow("d", SlowConfig())
    driver.release.set()
    seen = SeenIds(tmp_path / "s.db", 10, 60)

    def broken(command_id: str, now_ms: int | None = None) -> bool:
        raise sqlite3.OperationalError("database or disk is full")

    seen.add = broken  # type: ignore[method-assign]
    router = CommandRouter(cfg, T, transport, {"d": driver}, seen)
    async with anyio.create_task_group() as tg:
        await tg.start(router.run)
        await transport.handler(Msg("site/a/gw1/cmd/d/t", b'{"id": "c1", "action": "go"}'))
        await transport.wait(1)
        tg.cancel_scope.cancel()
    ((_, result),) = transport.published
    assert result["reason"] == "unavailable"
    assert "disk is full" in result["message"]
    assert router.stats().executed == 0, "fails closed: the driver is never called"
