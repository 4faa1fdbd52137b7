"""The simulated mesh: a coordinator and nodes answering DPA requests with real timing.

The simulator receives request frames from an interface front end (pty or fake spidev)
through :meth:`MeshSimulator.submit` and hands every frame the TR would send to
:attr:`MeshSimulator.output`. It models what a gateway can observe:

* the coordinator confirms a request to a node at once, with the node's hop count and the
  timeslot for the request length; the response follows after
  ``hops·slot + hops·response slot + 10 ms`` (plus a node's extra delay when it is slow),
  while the mesh stays busy routing for ``(hops+1)·slot + (hops+1)·response slot``;
* requests are handled one at a time and the mesh stays busy while routing;
* unreachable nodes never answer, flaky ones drop a share of requests, slow ones answer late;
* FRC takes the time of every bonded node's slot and every router's relay (a little under
  the FRC estimate of the IQRF library) and answers per the FRC width;
* the coordinator announces itself with the asynchronous reset message at start.

All delays are divided by ``speed``; :attr:`air_time_ms` accumulates the unscaled mesh time,
which the benchmark uses. The simulator records what it sent (``sent_values``) so tests can
compare a driver's readings with the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from edgerun_iqrf import embed, timing
from edgerun_iqrf.dpa import (
    NADR_BROADCAST,
    NADR_COORDINATOR,
    NADR_LOCAL,
    Confirmation,
    Pnum,
    Request,
    Response,
    decode_frame,
)
from edgerun_iqrf.errors import DpaFormatError
from edgerun_iqrf.sensor import (
    FRC_1BYTE,
    FRC_2BIT,
    FRC_2BYTE,
    FRC_4BYTE,
    decode_value,
    value_width,
)
from edgerun_iqrf.sim.model import SensorModel

ERR_FAIL: Final = 0x01
ERR_PCMD: Final = 0x02
ERR_PNUM: Final = 0x03
ERR_DATA_LEN: Final = 0x05
ERR_DATA: Final = 0x06
ERR_HWPID: Final = 0x07
ERR_NADR: Final = 0x08

DPA_VERSION: Final = 0x0417
#: Processing time of the TR for a local request (interface to coordinator and back).
LOCAL_MS: Final = 4.0
#: Time a node takes to execute a request before answering.
NODE_PROCESSING_MS: Final = 10.0
HISTORY: Final = 64
_COORD_PERS: Final = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13)
_NODE_PERS: Final = (1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13)


@dataclass
class SimNode:
    """One simulated node; routers have no sensors."""

    addr: int
    mid: int
    sensors: list[SensorModel] = field(default_factory=list)
    hwpid: int = 0
    hwpid_ver: int = 0
    hops: int = 1
    floor: int = 1
    binary_outputs: int = 0
    router: bool = False
    unreachable: bool = False
    slow_ms: float = 0.0
    flaky: float = 0.0
    outputs: list[int] = field(default_factory=list)
    leds: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.outputs) < self.binary_outputs:
            self.outputs = [0] * self.binary_outputs

    @property
    def user_pers(self) -> tuple[int, ...]:
        pers = []
        if self.binary_outputs:
            pers.append(Pnum.BINARY_OUTPUT.value)
        if self.sensors:
            pers.append(Pnum.SENSOR.value)
        return tuple(pers)


def frc_encode(type_id: int, command: int, raw: bytes) -> int:
    """The FRC value a node sends for its raw sensor value (2 = error/out of range)."""
    if decode_value(type_id, raw) is None:
        return 2  # the sensor's error value
    width = value_width(type_id)
    if command == FRC_2BIT:
        return 3 if raw[0] & 1 else 2
    if width == 2:
        v = int.from_bytes(raw[:2], "little")
        err16 = 0x8000 if type_id in (1, 2, 3, 4, 5, 6, 7, 0x11, 0x12, 0x13, 0x15) else 0xFFFF
        if type_id in (0x19, 0x1A, 0x1B, 0x20):
            err16 = 0x8000
        if v == err16:
            return 2
        if command == FRC_1BYTE and type_id == 0x01:
            t = (v - 0x10000 if v & 0x8000 else v) / 16
            f = int((t + 22) * 2)
            return f if 4 <= f <= 255 else 2
        if command == FRC_1BYTE and type_id in (2, 3):
            f = v // 16 + 4
            return f if f <= 255 else 2
        if type_id in (1, 4, 5, 6, 7, 0x15):
            f = v ^ 0x8000
            return f if f >= 4 else 2
        return v + 4 if v + 4 <= 0xFFFF else 2
    if width == 1:
        v = raw[0]
        if (type_id in (0x80, 0x82) and v == 0xEE) or (type_id in (0x83, 0x84, 0x85) and v == 0xFF):
            return 2
        return v + 4 if v + 4 <= 0xFF else 2
    v = int.from_bytes(raw[:4], "little")
    if type_id == 0xA0:
        v &= 0x3FFFFFFF  # binary data30: bits 0-29 only
    if type_id in (0xA4, 0xA5):
        return v
    if v == 0xFFFFFFFF:
        return 2
    return v + 4 if v + 4 <= 0xFFFFFFFF else 2


class MeshSimulator:
    """Coordinator plus nodes; see the module docstring for the timing model."""

    def __init__(
        self,
        nodes: list[SimNode],
        *,
        speed: float = 1.0,
        std_mode: bool = True,
        seed: int = 1,
        clock: Callable[[], float] = time.time,
        coordinator_mid: int = 0x8100A0C0,
    ) -> None:
        self.nodes: dict[int, SimNode] = {n.addr: n for n in nodes}
        self.speed = speed
        self.std_mode = std_mode
        self.rng = random.Random(seed)
        self.clock = clock
        self.coordinator_mid = coordinator_mid
        self.output: Callable[[bytes], None] = lambda frame: None
        self.air_time_ms = 0.0
        #: Requests received per destination address (0 = coordinator).
        self.requests: Counter[int] = Counter()
        #: (PNUM, PCMD) of every request received, in order (bounded).
        self.request_log: deque[tuple[int, int, int]] = deque(maxlen=10_000)
        #: (addr, sensor index) -> raw values sent, newest last (bounded).
        self.sent_values: dict[tuple[int, int], deque[bytes]] = {}
        self.frc_params = 0x00
        self.leds: list[tuple[str, int]] = []
        self._queue: asyncio.Queue[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._frc_buffer = bytes(embed.FRC_BUFFER_LEN)
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._worker(), name="iqrf-sim")
        self.send_reset()

    async def stop(self) -> None:
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
        for task in [self._task, *self._pending]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    def submit(self, frame: bytes) -> None:
        """A frame from the interface (call from the simulator's event loop)."""
        assert self._queue is not None, "start() first"
        self._queue.put_nowait(bytes(frame))

    def submit_threadsafe(self, frame: bytes) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.submit, bytes(frame))

    # ------------------------------------------------------------------- controls

    def coordinator_enumeration(self) -> embed.PeripheralEnumeration:
        return embed.PeripheralEnumeration(
            DPA_VERSION, 0, _COORD_PERS, 0, 0, 0x01 if self.std_mode else 0x00, ()
        )

    def send_reset(self) -> None:
        """Emit the coordinator's asynchronous reset message."""
        pdata = self.coordinator_enumeration().encode()
        frame = bytes((0, 0, 0xFF, 0x3F, 0, 0, 0x80, 0)) + pdata
        self.output(frame)

    def send_async_sensors(self, addr: int) -> None:
        """Emit an asynchronous ReadSensorsWithTypes report from node ``addr``."""
        node = self.nodes[addr]
        pdata = self._sensor_data(node, list(range(len(node.sensors))), with_types=True)
        self.output(Response(addr, Pnum.SENSOR, 0x01, node.hwpid, 0x80, 0x40, pdata).encode())

    def rebond(self, old: int, new: int) -> None:
        """Move a node to a new address (same MID), as after a re-bond."""
        node = self.nodes.pop(old)
        node.addr = new
        self.nodes[new] = node

    def truth(self, addr: int, index: int) -> list[bytes]:
        return list(self.sent_values.get((addr, index), ()))

    # --------------------------------------------------------------------- worker

    def _ms(self, ms: float) -> float:
        return ms / 1000 / self.speed

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            raw = await self._queue.get()
            try:
                frame = decode_frame(raw)
            except DpaFormatError:
                continue  # the coordinator ignores malformed interface data
            if not isinstance(frame, Request):
                continue
            self.requests[frame.nadr] += 1
            self.request_log.append((frame.nadr, frame.pnum, frame.pcmd))
            try:
                await self._handle(frame)
            except asyncio.CancelledError:
                raise
            except Exception:  # a simulator bug must not kill the mesh
                logging.getLogger(__name__).exception("simulator failed on %s", raw.hex())

    def _later(self, delay_s: float, frame: bytes) -> None:
        async def send() -> None:
            await asyncio.sleep(delay_s)
            self.output(frame)

        task = asyncio.create_task(send())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _handle(self, req: Request) -> None:
        if req.nadr in (NADR_COORDINATOR, NADR_LOCAL):
            await asyncio.sleep(self._ms(LOCAL_MS))
            local = await self._coordinator(req)
            self.output(local.encode())
            return
        slot = timing.request_slot_ms(len(req.pdata), self.std_mode)
        if req.nadr == NADR_BROADCAST:
            hops = max((n.hops for n in self.nodes.values()), default=1)
            self.output(
                Confirmation(req.nadr, req.pnum, req.pcmd, req.hwpid, 0, hops, slot, 0).encode()
            )
            route_ms = (hops + 1) * slot
            self.air_time_ms += route_ms
            await asyncio.sleep(self._ms(route_ms))
            for node in self.nodes.values():
                if not node.unreachable:
                    self._node(node, req)
            return
        target = self.nodes.get(req.nadr)
        if target is None:
            self.output(Response(req.nadr, req.pnum, req.pcmd, req.hwpid, ERR_NADR, 0).encode())
            return
        node = target
        conf = Confirmation(req.nadr, req.pnum, req.pcmd, req.hwpid, 0, node.hops, slot, node.hops)
        self.output(conf.encode())
        resp: Response | None = None
        if not node.unreachable and not (node.flaky and self.rng.random() < node.flaky):
            resp = self._node(node, req)
        resp_len = len(resp.pdata) if resp is not None else 0
        resp_slot = timing.response_slot_ms(resp_len, self.std_mode)
        # The node hears the request after ``hops`` slots and its answer reaches the
        # coordinator ``hops`` response slots later; the mesh stays busy for the full
        # routing (every hop's slot plus one), as the DPA timing rules assume.
        arrive_ms = node.hops * slot + node.hops * resp_slot + NODE_PROCESSING_MS
        route_ms = (node.hops + 1) * slot + (node.hops + 1) * resp_slot
        self.air_time_ms += route_ms
        if resp is not None:
            self._later(self._ms(arrive_ms + node.slow_ms), resp.encode())
        await asyncio.sleep(self._ms(route_ms))

    # ---------------------------------------------------------------- coordinator

    def _ok(self, req: Request, pdata: bytes = b"", hwpid: int = 0, dpa_value: int = 0) -> Response:
        return Response(req.nadr, req.pnum, req.pcmd, hwpid, 0, dpa_value, pdata)

    def _err(self, req: Request, code: int, hwpid: int = 0) -> Response:
        return Response(req.nadr, req.pnum, req.pcmd, hwpid, code, 0)

    async def _coordinator(self, req: Request) -> Response:
        bonded = sorted(self.nodes)
        discovered = sorted(a for a, n in self.nodes.items() if n.router)
        if req.pnum == Pnum.COORDINATOR:
            if req.pcmd == 0x00:
                return self._ok(req, bytes((len(bonded), 0x2A)))
            if req.pcmd == 0x01:
                return self._ok(req, embed.nodes_to_bitmap(discovered))
            if req.pcmd == 0x02:
                return self._ok(req, embed.nodes_to_bitmap(bonded))
            if req.pcmd == 0x07:
                ms = 500 + 40 * len(bonded)
                self.air_time_ms += ms
                await asyncio.sleep(self._ms(ms))
                return self._ok(req, bytes((len(discovered),)))
            if req.pcmd in (0x08, 0x09):
                return self._ok(req, b"\xff\xff"[: 1 if req.pcmd == 0x08 else 2])
            return self._err(req, ERR_PCMD)
        if req.pnum == Pnum.OS and req.pcmd == 0x00:
            return self._ok(
                req, self._os_read(self.coordinator_mid, self.coordinator_enumeration())
            )
        if req.pnum == Pnum.ENUMERATION and req.pcmd == 0x3F:
            return self._ok(req, self.coordinator_enumeration().encode())
        if req.pnum in (Pnum.LEDR, Pnum.LEDG):
            if req.pcmd in (0, 1, 3, 4):
                self.leds.append(("red" if req.pnum == Pnum.LEDR else "green", req.pcmd))
                return self._ok(req)
            return self._err(req, ERR_PCMD)
        if req.pnum == Pnum.FRC:
            return await self._frc(req, bonded, discovered)
        return self._err(req, ERR_PNUM)

    def _os_read(self, mid: int, enum: embed.PeripheralEnumeration) -> bytes:
        return (
            mid.to_bytes(4, "little")
            + bytes((0x43, 0xB5))
            + (0x08D8).to_bytes(2, "little")
            + bytes((0x5A, 0x28, 0x00, 0x31))
            + bytes(range(16))
            + enum.encode()
        )

    async def _frc(self, req: Request, bonded: list[int], discovered: list[int]) -> Response:
        if req.pcmd == 0x01:
            return self._ok(req, self._frc_buffer[embed.FRC_DATA_LEN :])
        if req.pcmd == 0x03:
            if len(req.pdata) != 1:
                return self._err(req, ERR_DATA_LEN)
            prev, self.frc_params = self.frc_params, req.pdata[0]
            return self._ok(req, bytes((prev,)))
        if req.pcmd not in (0x00, 0x02):
            return self._err(req, ERR_PCMD)
        if not req.pdata:
            return self._err(req, ERR_DATA_LEN)
        command = req.pdata[0]
        if req.pcmd == 0x02:
            if len(req.pdata) < 1 + embed.FRC_SELECT_LEN:
                return self._err(req, ERR_DATA_LEN)
            selected = [n for n in embed.bitmap_to_nodes(req.pdata[1:31]) if n in self.nodes]
            user = req.pdata[31:]
        else:
            selected = bonded
            user = req.pdata[1:]
        resp_time = embed.FRC_RESPONSE_TIME_MS[(self.frc_params >> 4) & 7]
        per_node, per_router, base = (25, 90, 100) if self.std_mode else (25, 130, 140)
        ms = len(selected) * per_node + (len(discovered) + 2) * per_router + resp_time + base
        self.air_time_ms += ms
        await asyncio.sleep(self._ms(ms))
        values = {}
        for addr in selected:
            node = self.nodes[addr]
            if node.unreachable or (node.flaky and self.rng.random() < node.flaky):
                continue
            values[addr] = self._frc_value(node, command, user)
        self._frc_buffer = embed.encode_frc_buffer(command, values)
        status = min(len(values), 0xEF)
        return self._ok(req, bytes((status,)) + self._frc_buffer[: embed.FRC_DATA_LEN])

    def _frc_value(self, node: SimNode, command: int, user: bytes) -> int:
        if command == 0x00:  # Ping
            return 1
        if command == 0x80:  # embedded Temperature
            temps = [s for s in node.sensors if s.type_id == 0x01]
            if not temps:
                return 0x7F
            t = round(temps[0].value(self.clock()))
            return t & 0xFF if t != 0 else 0x7F
        if (
            len(user) < 4
            or user[0] != Pnum.SENSOR
            or command
            not in (
                FRC_2BIT,
                FRC_1BYTE,
                FRC_2BYTE,
                FRC_4BYTE,
            )
        ):
            return 1  # FRC not implemented
        type_id, index = user[1], user[2] & 0x1F
        if type_id:
            candidates = [i for i, s in enumerate(node.sensors) if s.type_id == type_id]
        else:
            candidates = list(range(len(node.sensors)))
        if index >= len(candidates):
            return 1 if not node.sensors else 2
        sensor_index = candidates[index]
        raw = self._read_raw(node, sensor_index)
        return frc_encode(node.sensors[sensor_index].type_id, command, raw)

    # ----------------------------------------------------------------------- nodes

    def _read_raw(self, node: SimNode, index: int) -> bytes:
        raw = node.sensors[index].raw(self.clock())
        hist = self.sent_values.setdefault((node.addr, index), deque(maxlen=HISTORY))
        hist.append(raw)
        return raw

    def _sensor_data(self, node: SimNode, indexes: list[int], with_types: bool) -> bytes:
        out = bytearray()
        for i in indexes:
            if i >= len(node.sensors):
                continue  # unimplemented sensors are skipped silently
            if with_types:
                out.append(node.sensors[i].type_id)
            out += self._read_raw(node, i)
        return bytes(out)

    def _node(self, node: SimNode, req: Request) -> Response | None:
        hwpid = node.hwpid
        if req.hwpid not in (0xFFFF, hwpid):
            return self._err(req, ERR_HWPID, hwpid)
        dv = 0x40 + node.floor
        enum = embed.PeripheralEnumeration(
            DPA_VERSION,
            len(node.user_pers),
            _NODE_PERS,
            hwpid,
            node.hwpid_ver,
            0x01 if self.std_mode else 0x00,
            node.user_pers,
        )
        if req.pnum == Pnum.ENUMERATION and req.pcmd == 0x3F:
            return self._ok(req, enum.encode(), hwpid, dv)
        if req.pnum == Pnum.OS:
            if req.pcmd == 0x00:
                return self._ok(req, self._os_read(node.mid, enum), hwpid, dv)
            return self._err(req, ERR_PCMD, hwpid)
        if req.pnum in (Pnum.LEDR, Pnum.LEDG):
            if req.pcmd in (0, 1, 3, 4):
                node.leds.append(("red" if req.pnum == Pnum.LEDR else "green", req.pcmd))
                return self._ok(req, b"", hwpid, dv)
            return self._err(req, ERR_PCMD, hwpid)
        if req.pnum == Pnum.THERMOMETER and req.pcmd == 0x00:
            temps = [s for s in node.sensors if s.type_id == 0x01]
            t = temps[0].value(self.clock()) if temps else 22.0
            sixteenths = round(t * 16) & 0xFFFF
            return self._ok(
                req, bytes((int(t) & 0xFF,)) + sixteenths.to_bytes(2, "little"), hwpid, dv
            )
        if req.pnum == Pnum.SENSOR and node.sensors:
            return self._sensor(node, req, dv)
        if req.pnum == Pnum.BINARY_OUTPUT and node.binary_outputs:
            return self._binout(node, req, dv)
        return self._err(req, ERR_PNUM, hwpid)

    def _sensor(self, node: SimNode, req: Request, dv: int) -> Response:
        hwpid = node.hwpid
        if req.pcmd == 0x3E:
            return self._ok(req, bytes(s.type_id for s in node.sensors), hwpid, dv)
        if req.pcmd not in (0x00, 0x01):
            return self._err(req, ERR_PCMD, hwpid)
        if not req.pdata:
            indexes = [0]
        elif len(req.pdata) < 4 or (len(req.pdata) - 4) % 5:
            return self._err(req, ERR_DATA_LEN, hwpid)
        else:
            bitmap = int.from_bytes(req.pdata[:4], "little")
            indexes = [i for i in range(32) if bitmap >> i & 1]
        data = self._sensor_data(node, indexes, with_types=req.pcmd == 0x01)
        return self._ok(req, data, hwpid, dv)

    def _binout(self, node: SimNode, req: Request, dv: int) -> Response:
        hwpid = node.hwpid
        if req.pcmd == 0x3E:
            return self._ok(req, bytes((node.binary_outputs,)), hwpid, dv)
        if req.pcmd != 0x00:
            return self._err(req, ERR_PCMD, hwpid)
        if len(req.pdata) < 4:
            return self._err(req, ERR_DATA_LEN, hwpid)
        selected = embed.bitmap_to_nodes(req.pdata[:4])
        if len(req.pdata) != 4 + len(selected):
            return self._err(req, ERR_DATA_LEN, hwpid)
        prev = [i for i, s in enumerate(node.outputs) if s]
        for i, state in zip(selected, req.pdata[4:], strict=True):
            if i >= node.binary_outputs or state == 0x80:
                return self._err(req, ERR_FAIL if state == 0x80 else ERR_DATA, hwpid)
            node.outputs[i] = state
        return self._ok(req, embed.nodes_to_bitmap(prev, 4), hwpid, dv)
