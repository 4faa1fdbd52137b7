"""The serial-port base of the UART and USB CDC transports, and the UART transport.

pyserial-asyncio-fast is the maintained fork of pyserial-asyncio (the original has had no
release since 2022); it is imported in :meth:`open` only. Each transport runs one reader
task that feeds its sans-io parser and queues whole DPA frames. The CDC transport lives in
:mod:`edgerun_iqrf.cdc_transport`, so a UART gateway never loads the CDC protocol module.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from edgerun_iqrf import hdlc
from edgerun_iqrf.errors import TransportError
from edgerun_iqrf.transport import Transport

READ_CHUNK: Final = 4096


class SerialTransport(Transport):
    """A transport over a serial port: opens it, reads it in a task, writes and closes it."""

    def __init__(self, port: str, baudrate: int) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        import serial
        import serial_asyncio_fast

        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                url=self.port, baudrate=self.baudrate
            )
        except (OSError, serial.SerialException, ValueError) as exc:
            raise TransportError(f"cannot open {self.port}: {exc}") from exc
        self._task = asyncio.create_task(self._read_loop(), name=f"iqrf-{self.name}-rx")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                chunk = await self._reader.read(READ_CHUNK)
                if not chunk:
                    self._fail(TransportError(f"{self.port} closed"))
                    return
                self.counters["bytes_rx"] += len(chunk)
                self._on_bytes(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the port went away: surface it to receive()
            self._fail(TransportError(f"{self.port}: {exc}"))

    def _on_bytes(self, chunk: bytes) -> None:
        raise NotImplementedError

    async def _write(self, data: bytes) -> None:
        if self._writer is None:
            raise TransportError("transport is not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            raise TransportError(f"{self.port}: write failed: {exc}") from exc
        self.counters["bytes_tx"] += len(data)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None


class UartTransport(SerialTransport):
    """DPA over the TR's UART interface with HDLC-like framing (default 57600 Bd)."""

    name = "uart"

    def __init__(self, port: str, baudrate: int = 57600) -> None:
        super().__init__(port, baudrate)
        self._deframer = hdlc.Deframer()

    def _on_bytes(self, chunk: bytes) -> None:
        d = self._deframer
        for frame in d.feed(chunk):
            self._deliver(frame)
        self.counters["frames_dropped"] = d.dropped
        self.counters["bytes_skipped"] = d.skipped_bytes

    def resync(self) -> None:
        self._deframer.reset()

    async def send(self, frame: bytes) -> None:
        await self._write(hdlc.encode(frame))
        self.counters["frames_tx"] += 1
