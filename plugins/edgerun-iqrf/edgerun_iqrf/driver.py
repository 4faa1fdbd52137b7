"""The ``iqrf`` driver: an IQRF mesh as a source of readings and a target of commands.

On start it opens the transport, asks the coordinator who it is, then loads the cached
network map (:mod:`edgerun_iqrf.netmap`) and enumerates only nodes it does not know. Each
cycle reads every wanted node, by FRC for the quantities FRC carries or by
ReadSensorsWithTypes per node; ``auto`` compares the air time of both from the DPA timing
rules and logs its choice. A node that does not answer is reported once (a ``status``
reading ``unreachable`` and the ``node_timeouts`` counter) and then tried only every
``retry_interval``, so it costs the rest of the network nothing; when it answers again a
``status`` ``ok`` follows. Asynchronous sensor reports become readings, a node's reset
message re-enumerates it and the coordinator's resynchronises the network. Device ids are
the node's MID, so a node re-bonded at another address keeps its identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from edgerun.api import CommandError, Driver, DriverContext, Reading
from edgerun_iqrf import embed, netmap, sensor, timing
from edgerun_iqrf.client import DpaClient
from edgerun_iqrf.config import IqrfConfig
from edgerun_iqrf.dpa import LedCmd, Pnum, Response, SensorCmd, is_reset
from edgerun_iqrf.engine import DpaEngine
from edgerun_iqrf.errors import DpaFormatError, DpaResponseError, DpaTimeout, TransportError

ASYNC_QUEUE: Final = 256
STATUS_OK: Final = "ok"
STATUS_UNREACHABLE: Final = "unreachable"


class _Health(msgspec.Struct):
    state: str = "unknown"
    failures: int = 0
    retry_at: float = 0.0


class _Plan(msgspec.Struct, frozen=True):
    """One cycle: FRC groups (type, index-among-type) -> nodes, and per-node reads."""

    frc: dict[tuple[int, int], list[int]]
    per_node: dict[int, list[int] | None]  # addr -> sensor indexes (None = all)
    reason: str


def sensor_ids(node: netmap.NodeInfo) -> list[str]:
    """Device id of each sensor: the MID, suffixed when a quantity repeats on the node."""
    seen: dict[str, int] = {}
    out = []
    for index, type_id in enumerate(node.sensors):
        q = sensor.sensor_type(type_id).quantity
        n = seen.get(q, 0)
        seen[q] = n + 1
        out.append(node.device_id if n == 0 else f"{node.device_id}-{index}")
    return out


class IqrfDriver(Driver[IqrfConfig]):
    """Reads an IQRF network through its coordinator."""

    config_type = IqrfConfig
    extra = "iqrf"
    requires = ("serial_asyncio_fast",)

    def __init__(self, name: str, config: IqrfConfig) -> None:
        super().__init__(name, config)
        self._session: _Session | None = None

    async def run(self, ctx: DriverContext) -> None:
        # the serial and spidev libraries are imported by the transport when it opens
        from edgerun_iqrf.transport import open_transport

        cfg = self.config
        transport = open_transport(cfg.transport, cfg.port, baudrate=cfg.baudrate)
        await transport.open()
        try:
            engine = DpaEngine(transport, time_scale=cfg.time_scale)
            async with engine:
                session = _Session(cfg, ctx, DpaClient(engine))
                await session.connect()
                ctx.started()
                self._session = session
                await session.run()
        finally:
            self._session = None
            await transport.close()

    async def command(self, target: str, action: str, args: Mapping[str, Any]) -> Any:
        """``pulse`` (LED; ``color`` red|green), ``set`` (binary output: ``output``, ``value``,
        optional ``duration`` s) and ``enumerate``; target = device id (MID) or ``node-N``."""
        session = self._session
        if session is None:
            raise CommandError("not_running", "the IQRF network is not connected")
        try:
            return await session.command(target, action, args)
        except DpaTimeout as exc:
            raise CommandError("timeout", str(exc)) from exc
        except DpaResponseError as exc:
            raise CommandError("refused", f"node refused: {exc.name}") from exc
        except DpaFormatError as exc:
            raise CommandError("invalid", str(exc)) from exc
        except TransportError as exc:
            raise CommandError("unavailable", str(exc)) from exc


class _Session:
    """One connected run of the driver."""

    def __init__(self, cfg: IqrfConfig, ctx: DriverContext, client: DpaClient) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.client = client
        self.engine = client.engine
        self.map = netmap.NetworkMap(0)
        self.health: dict[int, _Health] = {}
        self.next_due: dict[int, float] = {}
        self.discovered: list[int] = []
        self.coordinator_mid = 0
        self.resync = asyncio.Event()
        self.reenumerate: set[int] = set()
        self._async: asyncio.Queue[Response] = asyncio.Queue(ASYNC_QUEUE)
        self._last_reason = ""

    # --------------------------------------------------------------- start-up

    async def connect(self) -> None:
        os_info = await self.client.os_read(0, retries=self.cfg.retries)
        enum = os_info.enumeration or await self.client.enumerate_peripherals(
            0, retries=self.cfg.retries
        )
        self.engine.std_mode = enum.std_mode
        self.coordinator_mid = os_info.mid
        self.ctx.log.info(
            "coordinator %08X: OS %s, DPA %s, %s mode",
            os_info.mid,
            os_info.os_version_str,
            enum.dpa_version_str,
            "STD" if enum.std_mode else "LP",
        )

    async def discover(self) -> None:
        """Bonded nodes, then the cached map or enumeration of the nodes it lacks."""
        bonded = await self.client.bonded_nodes()
        self.discovered = await self.client.discovered_nodes()
        cached = netmap.load(self.ctx.data_dir)
        if cached is not None and cached.coordinator_mid != self.coordinator_mid:
            self.ctx.log.info("cached network map belongs to another coordinator; ignoring it")
            cached = None
        fresh = netmap.NetworkMap(self.coordinator_mid)
        enumerated = 0
        for addr in bonded:
            known = cached.nodes.get(addr) if cached is not None else None
            if known is not None and addr not in self.reenumerate:
                fresh.nodes[addr] = known
                continue
            info = await self._enumerate(addr)
            if info is not None:
                fresh.nodes[addr] = info
                enumerated += 1
        self.map = fresh
        self.reenumerate.clear()
        netmap.save(self.ctx.data_dir, fresh)
        self.ctx.count("nodes_enumerated", enumerated)
        self.ctx.log.info(
            "%d bonded nodes, %d enumerated, %d from the cache",
            len(bonded),
            enumerated,
            len(fresh.nodes) - enumerated,
        )

    async def _enumerate(self, addr: int) -> netmap.NodeInfo | None:
        try:
            os_info = await self.client.os_read(addr, retries=self.cfg.retries)
            conf = self.engine.last_confirmation
            hops = conf.hops if conf is not None and conf.nadr == addr else 1
            enum = os_info.enumeration or await self.client.enumerate_peripherals(
                addr, retries=self.cfg.retries
            )
            sensors: list[int] = []
            outputs = 0
            if Pnum.SENSOR in enum.user_pers:
                sensors = await self.client.sensor_enumerate(addr, retries=self.cfg.retries)
            if Pnum.BINARY_OUTPUT in enum.user_pers:
                outputs = await self.client.binary_output_enumerate(addr, retries=self.cfg.retries)
        except (DpaTimeout, DpaResponseError, DpaFormatError) as exc:
            self.ctx.log.warning("node %d could not be enumerated: %s", addr, exc)
            self.ctx.count("enumeration_failures")
            await self._node_failed(addr, None)
            self.reenumerate.add(addr)
            return None
        return netmap.NodeInfo(
            addr=addr,
            mid=os_info.mid,
            hwpid=enum.hwpid,
            hwpid_ver=enum.hwpid_ver,
            peripherals=list(enum.peripherals),
            sensors=sensors,
            binary_outputs=outputs,
            hops=hops,
        )

    # -------------------------------------------------------------------- loop

    async def run(self) -> None:
        unsubscribe = self.engine.subscribe(self._on_async)
        worker = asyncio.create_task(self._async_loop(), name="iqrf-async")
        try:
            await self.discover()
            while True:
                if self.engine.failed is not None:
                    raise self.engine.failed
                started = time.monotonic()
                if self.resync.is_set():
                    self.resync.clear()
                    self.ctx.log.info("coordinator reset: resynchronising the network")
                    await self.connect()
                    await self.discover()
                elif self.reenumerate:
                    await self._reenumerate_pending()
                await self.cycle()
                wait = max(0.0, self.cfg.poll_interval - (time.monotonic() - started))
                await self._pause(wait)
        finally:
            unsubscribe()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _pause(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.ctx.sleep(seconds))
        waker = asyncio.ensure_future(self.resync.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            for task in (sleeper, waker):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _reenumerate_pending(self) -> None:
        for addr in sorted(self.reenumerate):
            info = await self._enumerate(addr)
            if info is not None:
                self.map.nodes[addr] = info
                self.reenumerate.discard(addr)
        netmap.save(self.ctx.data_dir, self.map)

    def _wanted(self, node: netmap.NodeInfo, now: float) -> bool:
        if not node.sensors:
            return False
        if self.cfg.hwpid and node.hwpid not in self.cfg.hwpid:
            return False
        override = self.cfg.override(node.addr)
        if override is not None and not override.enabled:
            return False
        if now < self.next_due.get(node.addr, 0.0):
            return False
        h = self.health.get(node.addr)
        return h is None or h.state != STATUS_UNREACHABLE or now >= h.retry_at

    async def cycle(self) -> None:
        now = time.monotonic()
        nodes = [n for n in self.map.nodes.values() if self._wanted(n, now)]
        for n in nodes:
            override = self.cfg.override(n.addr)
            if override is not None and override.poll_interval is not None:
                self.next_due[n.addr] = now + override.poll_interval
        plan = self.plan(nodes)
        if plan.reason != self._last_reason:
            self.ctx.log.info("read strategy: %s", plan.reason)
            self._last_reason = plan.reason
        answered: set[int] = set()
        silent: set[int] = set()
        for (type_id, nth), addrs in plan.frc.items():
            await self._read_frc(type_id, nth, addrs, answered, silent, plan.per_node)
        for addr in silent - answered:
            await self._node_failed(addr, self.map.nodes.get(addr))
        for addr in answered:
            await self._node_ok(addr)
        for addr, indexes in plan.per_node.items():
            if addr in silent - answered:
                continue
            await self._read_node(self.map.nodes[addr], indexes)
        ok = sum(1 for h in self.health.values() if h.state == STATUS_OK)
        self.ctx.set_state("polling", f"{ok}/{len(self.health)} nodes answering")

    # -------------------------------------------------------------- planning

    def plan(self, nodes: list[netmap.NodeInfo]) -> _Plan:
        """Split the cycle into FRC groups and per-node reads according to the strategy."""
        frc: dict[tuple[int, int], list[int]] = {}
        per_node: dict[int, list[int] | None] = {}
        frc_nodes: list[netmap.NodeInfo] = []
        for node in nodes:
            override = self.cfg.override(node.addr)
            strategy = (override.strategy if override else None) or self.cfg.read_strategy
            if strategy == "per-node":
                per_node[node.addr] = None
            else:
                frc_nodes.append(node)
        groups: dict[tuple[int, int], list[int]] = {}
        leftovers: dict[int, list[int]] = {}
        for node in frc_nodes:
            counts: dict[int, int] = {}
            for index, type_id in enumerate(node.sensors):
                nth = counts.get(type_id, 0)
                counts[type_id] = nth + 1
                cmd = sensor.frc_command_for(type_id)
                if cmd is None or nth >= 32 or node.addr > embed.frc_max_node(cmd, with_extra=True):
                    leftovers.setdefault(node.addr, []).append(index)
                else:
                    groups.setdefault((type_id, nth), []).append(node.addr)
        if self.cfg.read_strategy == "auto" and groups:
            frc_ms = self._frc_estimate_ms(groups)
            auto_nodes = [n for n in frc_nodes if not self._strategy_override(n.addr)]
            per_ms = sum(self._per_node_estimate_ms(n) for n in auto_nodes)
            forced = [n for n in frc_nodes if n not in auto_nodes]
            if per_ms <= frc_ms:
                reason = (
                    f"auto chose per-node reads: {len(auto_nodes)} nodes ≈ {per_ms} ms of "
                    f"air time against {len(groups)} FRC rounds ≈ {frc_ms} ms"
                )
                for n in auto_nodes:
                    per_node[n.addr] = None
                keep = {n.addr for n in forced}
                groups = {k: [a for a in v if a in keep] for k, v in groups.items()}
                groups = {k: v for k, v in groups.items() if v}
                leftovers = {a: v for a, v in leftovers.items() if a in keep}
            else:
                reason = (
                    f"auto chose FRC: {len(groups)} FRC rounds ≈ {frc_ms} ms of air time "
                    f"against {len(auto_nodes)} per-node reads ≈ {per_ms} ms"
                )
        elif groups:
            reason = f"FRC in {len(groups)} rounds" + (
                f", per-node reads for {len(per_node)} nodes" if per_node else ""
            )
        else:
            reason = f"per-node reads for {len(per_node)} nodes"
        for addr, indexes in leftovers.items():
            if addr not in per_node:
                per_node[addr] = indexes
        frc.update(groups)
        return _Plan(frc, per_node, reason)

    def _strategy_override(self, addr: int) -> str | None:
        override = self.cfg.override(addr)
        return override.strategy if override is not None else None

    def _frc_estimate_ms(self, groups: Mapping[tuple[int, int], list[int]]) -> int:
        per_round = timing.frc_timeout_ms(
            len(self.map.nodes),
            len(self.discovered),
            self.client.frc_response_time_ms,
            self.engine.std_mode,
        )
        return per_round * len(groups)

    def _per_node_estimate_ms(self, node: netmap.NodeInfo) -> int:
        std = self.engine.std_mode
        resp_len = sum(1 + (sensor.value_width(t) or 8) for t in node.sensors)
        slot = timing.request_slot_ms(4, std)
        resp = timing.response_slot_ms(resp_len, std)
        return (node.hops + 1) * (slot + resp) + timing.SAFETY_MS

    # ---------------------------------------------------------------- reading

    async def _read_frc(
        self,
        type_id: int,
        nth: int,
        addrs: list[int],
        answered: set[int],
        silent: set[int],
        per_node: dict[int, list[int] | None],
    ) -> None:
        try:
            values = await self.client.sensor_frc(type_id, nth, nodes=addrs)
        except (DpaTimeout, DpaResponseError, DpaFormatError) as exc:
            self.ctx.log.warning("FRC of type %#04x failed (%s); reading per node", type_id, exc)
            self.ctx.count("frc_failures")
            for addr in addrs:
                per_node.setdefault(addr, None)
            return
        self.ctx.count("frc_rounds")
        readings = []
        for addr in addrs:
            node = self.map.nodes[addr]
            v = values.get(addr)
            if v is None or v.status is sensor.FrcStatus.NO_RESPONSE:
                silent.add(addr)
                continue
            answered.add(addr)
            if v.status is not None:
                self.ctx.count("sensor_errors")
                continue
            of_type = [i for i, t in enumerate(node.sensors) if t == type_id]
            if nth >= len(of_type):  # the node was re-enumerated meanwhile
                self.ctx.count("sensor_mismatch")
                continue
            index = of_type[nth]
            reading = self._reading(node, index, type_id, v.value, "frc")
            if reading is not None:
                readings.append(reading)
        await self.ctx.emit_many(readings)

    async def _read_node(self, node: netmap.NodeInfo, indexes: list[int] | None) -> None:
        try:
            values = await self.client.read_sensors_with_types(node.addr, indexes, hwpid=node.hwpid)
        except DpaTimeout:
            await self._node_failed(node.addr, node)
            return
        except DpaResponseError as exc:
            self.ctx.count("node_errors")
            if exc.name == "ERROR_HWPID":
                self.ctx.log.info("node %d answers with another HWPID; re-enumerating", node.addr)
                self.reenumerate.add(node.addr)
            else:
                self.ctx.log.warning("node %d: %s", node.addr, exc)
            return
        except DpaFormatError as exc:
            self.ctx.count("malformed_responses")
            self.ctx.log.warning("node %d sent an undecodable answer: %s", node.addr, exc)
            return
        await self._node_ok(node.addr)
        await self.ctx.emit_many(self._readings(node, values, "read"))

    def _readings(
        self, node: netmap.NodeInfo, values: Iterable[sensor.SensorReading], via: str
    ) -> list[Reading]:
        out = []
        for v in values:
            r = self._reading(node, v.index, v.type, v.value, via)
            if r is not None:
                out.append(r)
        return out

    def _reading(
        self, node: netmap.NodeInfo, index: int, type_id: int, value: Any, via: str
    ) -> Reading | None:
        if value is None:
            self.ctx.count("sensor_errors")
            return None
        if index >= len(node.sensors) or node.sensors[index] != type_id:
            self.ctx.count("sensor_mismatch")
            self.reenumerate.add(node.addr)
            return None
        st = sensor.sensor_type(type_id)
        return Reading(
            sensor_ids(node)[index],
            st.quantity,
            value,
            extra={"nadr": node.addr, "index": index, "type": type_id, "via": via},
        )

    # ----------------------------------------------------------------- health

    def _status(self, node: netmap.NodeInfo | None, addr: int, state: str) -> Reading:
        device = node.device_id if node is not None else f"node-{addr}"
        return Reading(device, "status", state, extra={"nadr": addr})

    async def _node_failed(self, addr: int, node: netmap.NodeInfo | None) -> None:
        h = self.health.setdefault(addr, _Health())
        h.failures += 1
        h.retry_at = time.monotonic() + self.cfg.retry_interval
        self.ctx.count("node_timeouts")
        if h.state != STATUS_UNREACHABLE:
            h.state = STATUS_UNREACHABLE
            self.ctx.log.warning(
                "node %d does not answer; retrying every %.0f s", addr, self.cfg.retry_interval
            )
            await self.ctx.emit(self._status(node, addr, STATUS_UNREACHABLE))

    async def _node_ok(self, addr: int) -> None:
        h = self.health.setdefault(addr, _Health())
        h.failures = 0
        if h.state != STATUS_OK:
            if h.state == STATUS_UNREACHABLE:
                self.ctx.log.info("node %d answers again", addr)
            h.state = STATUS_OK
            await self.ctx.emit(self._status(self.map.nodes.get(addr), addr, STATUS_OK))

    # ------------------------------------------------------------------ async

    def _on_async(self, frame: object) -> None:
        if not isinstance(frame, Response):
            self.ctx.count("async_ignored")
            return
        if is_reset(frame) and frame.nadr == 0:
            self.resync.set()
            self.ctx.count("coordinator_resets")
            return
        try:
            self._async.put_nowait(frame)
        except asyncio.QueueFull:
            self.ctx.count("async_dropped")

    async def _async_loop(self) -> None:
        while True:
            frame = await self._async.get()
            node = self.map.nodes.get(frame.nadr)
            if is_reset(frame):
                self.ctx.log.info("node %d restarted; re-enumerating it", frame.nadr)
                self.reenumerate.add(frame.nadr)
                continue
            if node is None or frame.pnum != Pnum.SENSOR or not frame.ok:
                self.ctx.count("async_ignored")
                continue
            try:
                if frame.request_pcmd == SensorCmd.READ_SENSORS_WITH_TYPES:
                    values = sensor.decode_with_types(frame.pdata)
                elif frame.request_pcmd == SensorCmd.READ_SENSORS:
                    values = sensor.decode_without_types(frame.pdata, node.sensors)
                else:
                    self.ctx.count("async_ignored")
                    continue
            except DpaFormatError as exc:
                self.ctx.count("malformed_responses")
                self.ctx.log.warning("undecodable async report from node %d: %s", node.addr, exc)
                continue
            self.ctx.count("async_reports")
            await self._node_ok(node.addr)
            await self.ctx.emit_many(self._readings(node, values, "async"))

    # --------------------------------------------------------------- commands

    def _target(self, target: str) -> int:
        if target == "coordinator":
            return 0
        if target.startswith("node-") and target[5:].isdigit():
            addr = int(target[5:])
            if addr in self.map.nodes:
                return addr
        for node in self.map.nodes.values():
            if node.device_id == target.upper():
                return node.addr
        raise CommandError("unknown_target", f"no IQRF node {target!r}")

    async def command(self, target: str, action: str, args: Mapping[str, Any]) -> Any:
        addr = self._target(target)
        if action == "pulse":
            color = args.get("color", "red")
            if color not in ("red", "green"):
                raise CommandError("invalid", "color must be red or green")
            await self.client.led(addr, color, LedCmd.PULSE)
            return {"pulsed": color}
        if action == "set":
            node = self.map.nodes.get(addr)
            if node is None or not node.binary_outputs:
                raise CommandError("unsupported", f"{target} has no binary outputs")
            output = args.get("output", 0)
            value = args.get("value")
            duration = args.get("duration")
            if not isinstance(output, int) or not 0 <= output < node.binary_outputs:
                raise CommandError("invalid", f"output must be 0-{node.binary_outputs - 1}")
            if not isinstance(value, bool):
                raise CommandError("invalid", "value must be true or false")
            if duration is not None and (
                not isinstance(duration, int | float) or isinstance(duration, bool)
            ):
                raise CommandError("invalid", "duration must be seconds")
            state = embed.binary_output_state(value, duration)
            previous = await self.client.binary_output_set(addr, {output: state})
            return {"output": output, "value": value, "previous": output in previous}
        if action == "enumerate":
            if addr == 0:
                self.resync.set()
                return {"resync": True}
            info = await self._enumerate(addr)
            if info is None:
                raise CommandError("timeout", f"node {addr} did not answer")
            self.map.nodes[addr] = info
            netmap.save(self.ctx.data_dir, self.map)
            return {"mid": info.device_id, "hwpid": info.hwpid, "sensors": info.sensors}
        raise CommandError("unsupported", f"unknown action {action!r} (pulse, set, enumerate)")


__all__ = ["IqrfDriver", "sensor_ids"]
