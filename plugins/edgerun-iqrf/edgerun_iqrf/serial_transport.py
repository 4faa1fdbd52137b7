"""UART and USB CDC transports over a serial port (pyserial-asyncio-fast).

pyserial-asyncio-fast is the maintained fork of pyserial-asyncio (the original has had no
release since 2022); it is imported in :meth:`open` only. Both transports run one reader
task that feeds their sans-io parser and queues whole DPA frames.

CDC answers to ``>DS`` are awaited for at most 2 s: the device answers within
milliseconds, and the daemon's own 100 ms x 10 BUSY retry budget is 1 s, so 2 s only
trips on a device that has stopped answering.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from edgerun_iqrf import cdc, hdlc
from edgerun_iqrf.errors import DpaFormatError, TransportError
from edgerun_iqrf.spi import ModuleInfo, decode_module_info
from edgerun_iqrf.transport import Transport

READ_CHUNK: Final = 4096
CDC_REPLY_TIMEOUT_S: Final = 2.0
CDC_BUSY_RETRIES: Final = 10
CDC_BUSY_DELAY_S: Final = 0.1


class _SerialTransport(Transport):
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


class UartTransport(_SerialTransport):
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


class CdcTransport(_SerialTransport):
    """DPA through an IQRF USB CDC device (GW-USB, CK-USB)."""

    name = "cdc"

    def __init__(self, port: str) -> None:
        super().__init__(port, 115200)  # ignored by a USB CDC device
        self._parser = cdc.DeviceParser()
        self._replies: asyncio.Queue[cdc.CdcMessage] = asyncio.Queue(16)
        self._lock = asyncio.Lock()

    def _on_bytes(self, chunk: bytes) -> None:
        p = self._parser
        for msg in p.feed(chunk):
            if msg.tag == "DR":
                self._deliver(msg.data)
            elif self._replies.full():
                self.counters["unexpected_replies"] += 1
            else:
                self._replies.put_nowait(msg)
        self.counters["frames_dropped"] = p.dropped
        self.counters["bytes_skipped"] = p.skipped_bytes

    def resync(self) -> None:
        while not self._replies.empty():
            self._replies.get_nowait()

    async def command(self, tag: str, data: bytes | None = None) -> cdc.CdcMessage:
        """Send ``>TAG`` and return the answer whose tag starts with ``TAG``."""
        async with self._lock:
            self.resync()
            await self._write(cdc.encode_command(tag, data))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CDC_REPLY_TIMEOUT_S
            while True:
                remaining = deadline - loop.time()
                try:
                    async with asyncio.timeout(max(remaining, 0)):
                        reply = await self._replies.get()
                except TimeoutError:
                    raise TransportError(f"no answer to >{tag} from {self.port}") from None
                if reply.tag == "ERR":
                    raise TransportError(f">{tag} refused: syntax error/unsupported")
                if reply.tag.startswith(tag) or (tag == "" and reply.tag == "OK"):
                    return reply
                self.counters["unexpected_replies"] += 1

    async def send(self, frame: bytes) -> None:
        for _attempt in range(CDC_BUSY_RETRIES):
            reply = await self.command("DS", frame)
            if reply.tag == "DS:OK":
                self.counters["frames_tx"] += 1
                return
            if reply.tag == "DS:BUSY":
                self.counters["busy"] += 1
                await asyncio.sleep(CDC_BUSY_DELAY_S)
                continue
            raise TransportError(f"TR refused the frame: <{reply.tag}")
        raise TransportError(f"TR busy after {CDC_BUSY_RETRIES} attempts")

    async def reset(self) -> bool:
        reply = await self.command("RT")
        return reply.tag == "RT:OK"

    async def module_info(self) -> ModuleInfo | None:
        reply = await self.command("IT")
        try:
            return decode_module_info(reply.data)
        except DpaFormatError as exc:
            raise TransportError(f"bad module info: {exc}") from exc

    async def device_info(self) -> dict[str, Any]:
        """``>I``: USB device type, firmware version and serial number."""
        reply = await self.command("I")
        text = reply.tag.partition(":")[2]
        kind, _, rest = text.partition("#")
        version, _, serial_no = rest.partition("#")
        return {"type": kind, "firmware": version, "serial": serial_no}
