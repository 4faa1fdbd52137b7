"""The SPI transport: the IQRF SPI protocol driven through a spidev-like device object.

The device object needs ``xfer2(list[int], speed_hz, delay_usecs) -> list[int]`` and
``close()`` (``spidev.SpiDev`` in production, a fake in tests). Every exchange with the TR
(status check, read, write, module info) is one blocking sequence of ``xfer2`` calls run in
a worker thread; an asyncio lock keeps them one at a time, so the event loop never blocks.

Timing: the status is polled every 10 ms and a write waits at most 1 s for the TR to be
ready (the values of the IQRF libraries). One ``xfer2`` keeps CS asserted for the whole
packet at 250 kHz; python-spidev cannot insert gaps between bytes of one transfer, so
when the TR reports slow mode (0x83) the clock drops to 10 kHz, which stretches each byte
to 800 µs, the low-speed gap the TR asks for. Writes refused for a CRCM error are resent
up to 3 times; a read with a CRCS mismatch is repeated up to 3 times (the data stays in the
TR's buffer until read correctly).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from typing import Final, Protocol

from edgerun_iqrf import spi
from edgerun_iqrf.errors import DpaFormatError, TransportError
from edgerun_iqrf.module_info import ModuleInfo, decode_module_info
from edgerun_iqrf.transport import Transport

SPEED_HZ: Final = 250_000
SLOW_SPEED_HZ: Final = 10_000
POLL_INTERVAL_S: Final = 0.010
STATUS_TIMEOUT_S: Final = 1.0
RETRIES: Final = 3
RESET_SETTLE_S: Final = 0.5


class SpiDevice(Protocol):
    """The part of ``spidev.SpiDev`` the transport uses."""

    def xfer2(self, data: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]: ...

    def close(self) -> None: ...


def open_spidev(path: str) -> SpiDevice:
    """Open ``/dev/spidevB.D`` with python-spidev: mode 0, 8 bits, 250 kHz."""
    m = re.fullmatch(r"(?:/dev/)?spidev(\d+)\.(\d+)", path)
    if m is None:
        raise TransportError(f"SPI port must look like /dev/spidev0.0, not {path!r}")
    try:
        import spidev  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise TransportError(
            "the spi transport needs spidev: pip install edgerun-iqrf[spi]"
        ) from exc
    dev = spidev.SpiDev()
    try:
        dev.open(int(m.group(1)), int(m.group(2)))
    except OSError as exc:
        raise TransportError(f"cannot open {path}: {exc}") from exc
    dev.mode = 0
    dev.bits_per_word = 8
    dev.max_speed_hz = SPEED_HZ
    return dev  # type: ignore[no-any-return]


class SpiTransport(Transport):
    """DPA over SPI with status polling, CRC retries, busy and slow-mode handling."""

    name = "spi"

    def __init__(
        self,
        device_factory: Callable[[], SpiDevice],
        *,
        reset_hook: Callable[[], None] | None = None,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        super().__init__()
        self._factory = device_factory
        self._reset_hook = reset_hook
        self._poll_interval = poll_interval
        self._dev: SpiDevice | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.slow = False
        self.last_status: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._dev = await asyncio.to_thread(self._factory)
        self._task = asyncio.create_task(self._poll_loop(), name="iqrf-spi-poll")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._dev is not None:
            dev, self._dev = self._dev, None
            async with self._lock:
                await asyncio.to_thread(dev.close)

    # ------------------------------------------------------------ blocking sequences

    def _xfer(self, data: bytes) -> bytes:
        if self._dev is None:
            raise TransportError("SPI device is not open")
        speed = SLOW_SPEED_HZ if self.slow else SPEED_HZ
        try:
            rx = self._dev.xfer2(list(data), speed, 0)
        except OSError as exc:
            raise TransportError(f"SPI transfer failed: {exc}") from exc
        if len(rx) != len(data):
            raise TransportError(f"SPI device returned {len(rx)} bytes for {len(data)}")
        return bytes(rx)

    def _status_sync(self) -> int:
        """Two dummy checks, then two reads that must agree (three attempts)."""
        for _ in range(RETRIES):
            self._xfer(b"\0")
            self._xfer(b"\0")
            a = self._xfer(b"\0")[0]
            b = self._xfer(b"\0")[0]
            if a == b:
                self.last_status = a
                if a == spi.STATUS_SLOW_MODE:
                    if not self.slow:
                        self.counters["slow_mode"] += 1
                    self.slow = True
                elif a == spi.STATUS_READY_COMM:
                    self.slow = False
                return a
            self.counters["status_mismatch"] += 1
        raise TransportError("SPI status unstable")

    def _read_sync(self, length: int, cmd: int = spi.CMD_DATA) -> bytes:
        packet = spi.read_packet(length, cmd)
        for _ in range(RETRIES):
            rx = self._xfer(packet)
            try:
                return spi.parse_read_reply(rx, length)
            except DpaFormatError:
                self.counters["crcs_errors"] += 1
        raise TransportError(f"SPI read failed {RETRIES} times on CRCS")

    def _handover(self, frame: bytes) -> None:
        """Queue a frame read in the worker thread, in order, on the event loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, frame)

    def _drain_sync(self) -> None:
        """Read whatever the TR holds."""
        while True:
            status = self._status_sync()
            length = spi.data_ready_len(status)
            if length is None:
                return
            self._handover(self._read_sync(length))

    def _write_sync(self, frame: bytes, deadline: float, clock: Callable[[], float]) -> None:
        """Write ``frame``, reading first whatever the TR holds."""
        packet = spi.write_packet(frame)
        crc_failures = 0
        while True:
            status = self._status_sync()
            length = spi.data_ready_len(status)
            if length is not None:
                self._handover(self._read_sync(length))
                if clock() >= deadline:
                    raise TransportError("TR keeps sending; could not write in time")
                continue
            if status in (spi.STATUS_READY_COMM, spi.STATUS_SLOW_MODE):
                rx = self._xfer(packet)
                result = rx[-1]
                if result == spi.RESULT_CRCM_OK:
                    return
                if result == spi.RESULT_CRCM_ERR:
                    self.counters["crcm_errors"] += 1
                    crc_failures += 1
                    if crc_failures >= RETRIES:
                        raise TransportError(f"TR rejected the frame {RETRIES} times (CRCM)")
                    continue
                # Neither OK nor CRC error: the TR may have taken it, so do not resend.
                self.counters["write_unconfirmed"] += 1
                return
            if status in (spi.STATUS_DISABLED, spi.STATUS_HW_ERROR):
                raise TransportError(f"TR SPI {spi.status_state(status).value} ({status:#04x})")
            self.counters["not_ready"] += 1
            if clock() >= deadline:
                raise TransportError(f"TR not ready within {STATUS_TIMEOUT_S} s ({status:#04x})")
            time.sleep(self._poll_interval)

    # ------------------------------------------------------------------- async API

    async def _run(self, func: Callable[..., object], *args: object) -> object:
        async with self._lock:
            return await asyncio.to_thread(func, *args)

    async def _poll_loop(self) -> None:
        try:
            while True:
                await self._run(self._drain_sync)
                await asyncio.sleep(self._poll_interval)
        except asyncio.CancelledError:
            raise
        except TransportError as exc:
            self._fail(exc)
        except Exception as exc:
            self._fail(TransportError(f"SPI poll failed: {exc}"))

    async def send(self, frame: bytes) -> None:
        deadline = time.monotonic() + STATUS_TIMEOUT_S
        await self._run(self._write_sync, frame, deadline, time.monotonic)
        self.counters["frames_tx"] += 1

    async def status(self) -> int:
        """Read the SPI status byte."""
        result = await self._run(self._status_sync)
        assert isinstance(result, int)
        return result

    async def module_info(self) -> ModuleInfo | None:
        def sequence() -> bytes:
            for _ in range(int(STATUS_TIMEOUT_S / self._poll_interval)):
                status = self._status_sync()
                if status in (spi.STATUS_READY_COMM, spi.STATUS_SLOW_MODE):
                    return self._read_sync(32, spi.CMD_MODULE_INFO)
                time.sleep(self._poll_interval)
            raise TransportError("TR not ready for module info")

        data = await self._run(sequence)
        assert isinstance(data, bytes)
        try:
            return decode_module_info(data)
        except DpaFormatError as exc:
            raise TransportError(f"bad module info: {exc}") from exc

    async def reset(self) -> bool:
        """Power-cycle the TR through ``reset_hook`` (GPIO), then let it boot."""
        if self._reset_hook is None:
            return False
        await self._run(self._reset_hook)
        await asyncio.sleep(RESET_SETTLE_S)
        return True
