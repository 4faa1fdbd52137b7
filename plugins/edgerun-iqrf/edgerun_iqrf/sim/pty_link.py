"""Serve the simulator over a pseudo-terminal, with the UART or the CDC framing.

The pty's slave side is linked at the requested path, so a gateway opens it like a real
serial port (/dev/ttyS0 or /dev/ttyACM0). The slave is kept open by the simulator too, so a
client closing and reopening the port does not hang up the master side. The slave is put
in raw mode at once: no echo, no CR/LF translation, which would corrupt binary frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import tty
from collections import Counter
from pathlib import Path

from edgerun_iqrf import cdc, hdlc
from edgerun_iqrf.module_info import ModuleInfo
from edgerun_iqrf.sim.mesh import MeshSimulator


class PtyLink:
    """One simulated interface: ``transport`` is ``"uart"`` or ``"cdc"``."""

    def __init__(self, sim: MeshSimulator, transport: str, link: str | Path) -> None:
        if transport not in ("uart", "cdc"):
            raise ValueError(f"the pty link serves uart or cdc, not {transport!r}")
        self.sim = sim
        self.transport = transport
        self.link = Path(link)
        self.counters: Counter[str] = Counter()
        #: Answer the next N ``>DS`` with ``<DS:BUSY`` (CDC).
        self.busy_next = 0
        #: Answer the next N ``>DS`` with ``<DS:ERR`` (CDC).
        self.error_next = 0
        self._master = -1
        self._slave = -1
        self._deframer = hdlc.Deframer()
        self._host = cdc.HostParser()
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        name = os.ttyname(self._slave)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        self.link.symlink_to(name)
        self._loop.add_reader(self._master, self._on_readable)
        self.sim.output = self._emit
        await self.sim.start()

    async def stop(self) -> None:
        await self.sim.stop()
        if self._loop is not None and self._master >= 0:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        with contextlib.suppress(FileNotFoundError):
            if self.link.is_symlink():
                self.link.unlink()

    # ----------------------------------------------------------------------- output

    def _emit(self, frame: bytes) -> None:
        if self.transport == "uart":
            self.write_raw(hdlc.encode(frame))
        else:
            self.write_raw(cdc.encode_received(frame))

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the line as they are (also used to inject garbage)."""
        self._out += data
        self._flush()

    def _flush(self) -> None:
        assert self._loop is not None
        while self._out:
            try:
                n = os.write(self._master, self._out)
            except BlockingIOError:
                self._loop.add_writer(self._master, self._flush)
                return
            except OSError:
                self._out.clear()
                return
            del self._out[:n]
        self._loop.remove_writer(self._master)

    # ------------------------------------------------------------------------ input

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # no client has the slave open
                return
            raise
        self.counters["bytes_rx"] += len(data)
        if self.transport == "uart":
            for frame in self._deframer.feed(data):
                self.sim.submit(frame)
            self.counters["frames_dropped"] = self._deframer.dropped
        else:
            for msg in self._host.feed(data):
                self._cdc_command(msg)

    def _cdc_command(self, msg: cdc.CdcMessage) -> None:
        tag = msg.tag
        if tag == "DS":
            if self.error_next > 0:
                self.error_next -= 1
                self.write_raw(cdc.encode_answer("DS:ERR"))
                return
            if self.busy_next > 0:
                self.busy_next -= 1
                self.write_raw(cdc.encode_answer("DS:BUSY"))
                return
            self.write_raw(cdc.encode_answer("DS:OK"))
            self.sim.submit(msg.data)
        elif tag == "":
            self.write_raw(cdc.encode_answer("OK"))
        elif tag == "S":
            self.write_raw(cdc.encode_answer("S", b"\x80", raw=True))
        elif tag == "IT":
            info = ModuleInfo(self.sim.coordinator_mid, 0x43, 0xB5, 0x08D8, bytes(range(16)))
            self.write_raw(cdc.encode_answer("IT", info.encode(), raw=True))
        elif tag == "I":
            self.write_raw(
                cdc.encode_answer("I:GW-USB-SIM#1.00#" + f"{self.sim.coordinator_mid:08X}")
            )
        elif tag == "RT":
            self.write_raw(cdc.encode_answer("RT:OK"))
            self.sim.send_reset()
        elif tag in ("R", "B", "U"):
            self.write_raw(cdc.encode_answer(f"{tag}:OK"))
        else:
            self.write_raw(cdc.encode_answer("ERR"))
