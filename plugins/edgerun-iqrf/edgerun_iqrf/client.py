"""Typed DPA operations on top of the engine: what a gateway asks a mesh.

Each method builds the request, runs it through :class:`~edgerun_iqrf.engine.DpaEngine`,
checks the response code (:class:`~edgerun_iqrf.errors.DpaResponseError`) and decodes the
PData. FRC requests get a timeout from the FRC estimate for the known network size, with
the FRC response time the coordinator was configured with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from edgerun_iqrf import embed, sensor, timing
from edgerun_iqrf.dpa import (
    HWPID_ANY,
    NADR_COORDINATOR,
    BinaryOutputCmd,
    Confirmation,
    CoordinatorCmd,
    FrcCmd,
    LedCmd,
    OsCmd,
    Pnum,
    Request,
    Response,
    SensorCmd,
)
from edgerun_iqrf.engine import DpaEngine
from edgerun_iqrf.errors import DpaFormatError, DpaResponseError

#: Discovery of a large network takes minutes; it is bounded rather than unlimited.
DISCOVERY_TIMEOUT_S = 300.0


class FrcReadout(msgspec.Struct, frozen=True):
    """Raw per-node FRC values and the FRC status byte."""

    status: int
    values: dict[int, int]


class DpaClient:
    """Typed requests through one engine."""

    def __init__(self, engine: DpaEngine) -> None:
        self.engine = engine
        #: Network size for the FRC timeout; set from the bonded/discovered bitmaps.
        self.bonded_count = 239
        self.discovered_count = 239
        self.frc_response_time_ms = embed.FRC_RESPONSE_TIME_MS[0]

    async def call(
        self,
        nadr: int,
        pnum: int,
        pcmd: int,
        pdata: bytes = b"",
        *,
        hwpid: int = HWPID_ANY,
        timeout: float | None = None,
        retries: int = 0,
    ) -> Response:
        """Send a request and return the OK response (raises on an error code)."""
        frame = await self.engine.request(
            Request(nadr, pnum, pcmd, hwpid, pdata), timeout=timeout, retries=retries
        )
        if isinstance(frame, Confirmation):
            raise DpaFormatError("a unicast request got only a confirmation")
        if not frame.ok:
            raise DpaResponseError(frame.rcode, frame.rcode_name)
        return frame

    async def broadcast(self, pnum: int, pcmd: int, pdata: bytes = b"") -> Confirmation:
        frame = await self.engine.request(Request(0xFF, pnum, pcmd, HWPID_ANY, pdata))
        if not isinstance(frame, Confirmation):
            if not frame.ok:
                raise DpaResponseError(frame.rcode, frame.rcode_name)
            raise DpaFormatError("a broadcast got a response instead of a confirmation")
        return frame

    # -------------------------------------------------------------- coordinator

    async def addr_info(self) -> embed.AddrInfo:
        r = await self.call(NADR_COORDINATOR, Pnum.COORDINATOR, CoordinatorCmd.ADDR_INFO)
        return embed.decode_addr_info(r.pdata)

    async def bonded_nodes(self) -> list[int]:
        r = await self.call(NADR_COORDINATOR, Pnum.COORDINATOR, CoordinatorCmd.BONDED_DEVICES)
        nodes = embed.decode_bitmap(r.pdata)
        self.bonded_count = len(nodes)
        return nodes

    async def discovered_nodes(self) -> list[int]:
        r = await self.call(NADR_COORDINATOR, Pnum.COORDINATOR, CoordinatorCmd.DISCOVERED_DEVICES)
        nodes = embed.decode_bitmap(r.pdata)
        self.discovered_count = len(nodes)
        return nodes

    async def discovery(self, tx_power: int = 6, max_addr: int = 0) -> int:
        r = await self.call(
            NADR_COORDINATOR,
            Pnum.COORDINATOR,
            CoordinatorCmd.DISCOVERY,
            bytes((tx_power, max_addr)),
            timeout=DISCOVERY_TIMEOUT_S,
        )
        if not r.pdata:
            raise DpaFormatError("Discovery response without DiscNr")
        return r.pdata[0]

    # ----------------------------------------------------------------- any node

    async def os_read(
        self, nadr: int, timeout: float | None = None, retries: int = 0
    ) -> embed.OsInfo:
        r = await self.call(nadr, Pnum.OS, OsCmd.READ, timeout=timeout, retries=retries)
        return embed.decode_os_read(r.pdata)

    async def enumerate_peripherals(
        self, nadr: int, timeout: float | None = None, retries: int = 0
    ) -> embed.PeripheralEnumeration:
        r = await self.call(nadr, Pnum.ENUMERATION, 0x3F, timeout=timeout, retries=retries)
        return embed.decode_enumeration(r.pdata)

    async def led(self, nadr: int, color: str = "red", action: LedCmd = LedCmd.PULSE) -> None:
        pnum = Pnum.LEDR if color == "red" else Pnum.LEDG
        await self.call(nadr, pnum, action)

    async def thermometer(self, nadr: int) -> float | None:
        r = await self.call(nadr, Pnum.THERMOMETER, 0x00)
        return embed.decode_thermometer(r.pdata)

    # ----------------------------------------------------------- standard sensor

    async def sensor_enumerate(
        self, nadr: int, timeout: float | None = None, retries: int = 0
    ) -> list[int]:
        r = await self.call(
            nadr, Pnum.SENSOR, SensorCmd.ENUMERATE, timeout=timeout, retries=retries
        )
        return sensor.decode_enumerate(r.pdata)

    async def read_sensors_with_types(
        self,
        nadr: int,
        indexes: Sequence[int] | None = None,
        timeout: float | None = None,
        retries: int = 0,
        hwpid: int = HWPID_ANY,
    ) -> list[sensor.SensorReading]:
        """Read ``indexes`` (all sensors when None) with their types.

        With ``hwpid`` set, a device of another HWPID at that address answers ERROR_HWPID.
        """
        pdata = sensor.bitmap32(indexes) if indexes is not None else b"\xff\xff\xff\xff"
        r = await self.call(
            nadr,
            Pnum.SENSOR,
            SensorCmd.READ_SENSORS_WITH_TYPES,
            pdata,
            hwpid=hwpid,
            timeout=timeout,
            retries=retries,
        )
        return sensor.decode_with_types(r.pdata, sorted(indexes) if indexes is not None else None)

    # --------------------------------------------------------------------- FRC

    def frc_timeout_s(self) -> float:
        ms = timing.frc_timeout_ms(
            self.bonded_count,
            self.discovered_count,
            self.frc_response_time_ms,
            self.engine.std_mode,
        )
        return ms / 1000 * self.engine.time_scale

    async def frc(
        self, command: int, user_data: bytes, nodes: Iterable[int] | None = None
    ) -> FrcReadout:
        """Run FRC Send (all nodes) or SendSelective (``nodes``), plus ExtraResult if needed.

        :param nodes: the addresses to read; None reads all bonded nodes with Send.
        """
        selected = sorted(nodes) if nodes is not None else None
        if selected is None:
            pdata = embed.frc_send_pdata(command, user_data)
            pcmd = FrcCmd.SEND
        else:
            pdata = embed.frc_selective_pdata(command, selected, user_data)
            pcmd = FrcCmd.SEND_SELECTIVE
        r = await self.call(NADR_COORDINATOR, Pnum.FRC, pcmd, pdata, timeout=self.frc_timeout_s())
        result = embed.decode_frc_send(r.pdata)
        wanted = selected if selected is not None else list(range(1, 240))
        buffer = result.data
        if embed.frc_needs_extra(command, wanted):
            extra = await self.call(NADR_COORDINATOR, Pnum.FRC, FrcCmd.EXTRA_RESULT)
            buffer += embed.decode_frc_extra(extra.pdata)
        top = embed.frc_max_node(command, with_extra=len(buffer) > embed.FRC_DATA_LEN)
        in_range = [n for n in wanted if 1 <= n <= top]
        return FrcReadout(result.status, embed.frc_values(command, buffer, in_range))

    async def sensor_frc(
        self,
        type_id: int,
        index: int,
        nodes: Iterable[int] | None = None,
        command: int | None = None,
    ) -> dict[int, sensor.FrcSensorValue]:
        """Read sensor ``type_id`` / ``index`` of ``nodes`` by FRC and decode each value."""
        cmd = command if command is not None else sensor.frc_command_for(type_id)
        if cmd is None:
            raise DpaFormatError(f"sensor type {type_id:#04x} has no FRC form")
        readout = await self.frc(cmd, sensor.frc_user_data(type_id, index), nodes)
        return {
            n: sensor.decode_frc_value(type_id, cmd, n, raw) for n, raw in readout.values.items()
        }

    # -------------------------------------------------------------- binary output

    async def binary_output_enumerate(
        self, nadr: int, timeout: float | None = None, retries: int = 0
    ) -> int:
        r = await self.call(
            nadr, Pnum.BINARY_OUTPUT, BinaryOutputCmd.ENUMERATE, timeout=timeout, retries=retries
        )
        return embed.decode_binary_output_enumerate(r.pdata)

    async def binary_output_set(self, nadr: int, states: dict[int, int]) -> list[int]:
        """Set outputs; returns the indexes that were on before."""
        r = await self.call(
            nadr,
            Pnum.BINARY_OUTPUT,
            BinaryOutputCmd.SET_OUTPUT,
            embed.binary_output_set_pdata(states),
        )
        return embed.decode_binary_output_states(r.pdata)
