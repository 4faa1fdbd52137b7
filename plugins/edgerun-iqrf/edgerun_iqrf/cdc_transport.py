"""The USB CDC transport (GW-USB, CK-USB): DPA frames inside the IQRF CDC command protocol.

Loaded only when ``transport = "cdc"``, together with :mod:`edgerun_iqrf.cdc`, its sans-io
parser. Answers to ``>DS`` are awaited for at most 2 s: the device answers within
milliseconds, and the daemon's own 100 ms x 10 BUSY retry budget is 1 s, so 2 s only trips
on a device that has stopped answering.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from edgerun_iqrf import cdc
from edgerun_iqrf.errors import DpaFormatError, TransportError
from edgerun_iqrf.module_info import ModuleInfo, decode_module_info
from edgerun_iqrf.serial_transport import SerialTransport

CDC_REPLY_TIMEOUT_S: Final = 2.0
CDC_BUSY_RETRIES: Final = 10
CDC_BUSY_DELAY_S: Final = 0.1


class CdcTransport(SerialTransport):
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
