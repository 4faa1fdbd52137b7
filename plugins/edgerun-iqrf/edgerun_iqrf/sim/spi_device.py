"""A fake ``spidev.SpiDev`` whose other end is a simulated TR module.

It implements the slave side of the IQRF SPI protocol byte for byte (status answers,
data-ready lengths, CRCM checks, CRCS in reads, the result byte) and connects to the
:class:`~edgerun_iqrf.sim.mesh.MeshSimulator`, so everything above the device object runs
for real. Fault knobs make it corrupt CRCS on reads, report CRCM errors on writes, stay
busy, or enter slow mode. It is called from worker threads; a lock guards its state.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from edgerun_iqrf import spi
from edgerun_iqrf.module_info import ModuleInfo

if TYPE_CHECKING:
    from edgerun_iqrf.sim.mesh import MeshSimulator


class FakeSpiDev:
    """Implements ``xfer2`` and ``close`` like python-spidev's ``SpiDev``."""

    def __init__(
        self, sim: MeshSimulator | None = None, module_info: ModuleInfo | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._out: deque[bytes] = deque()
        self.sim = sim
        self.module_info = module_info or ModuleInfo(0x8100A0C0, 0x43, 0xB5, 0x08D8, bytes(16))
        #: Corrupt the CRCS of the next N reads.
        self.corrupt_reads = 0
        #: Report a CRCM error for the next N writes (and drop them).
        self.reject_writes = 0
        #: Answer the next N status polls with "not ready" (0x3F).
        self.busy_polls = 0
        self.slow_mode = False
        self.closed = False
        #: Frames the master wrote and the TR accepted.
        self.written: list[bytes] = []
        #: (kind, speed_hz) of every packet transfer, for tests.
        self.transfers: list[tuple[str, int]] = []
        self.max_speed_hz = 250_000
        self.mode = 0
        self.bits_per_word = 8

    # ----------------------------------------------------------- TR side (simulator)

    def push(self, frame: bytes) -> None:
        """The TR has a frame for the master (thread-safe)."""
        with self._lock:
            self._out.append(bytes(frame))

    def _status(self) -> int:
        if self._out:
            return spi.ready_status(len(self._out[0]))
        if self.busy_polls > 0:
            self.busy_polls -= 1
            return spi.STATUS_NOT_READY_CRCM_OK
        return spi.STATUS_SLOW_MODE if self.slow_mode else spi.STATUS_READY_COMM

    # ------------------------------------------------------------------ spidev API

    def open(self, bus: int, device: int) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def xfer2(self, data: list[int], speed_hz: int = 0, delay_usecs: int = 0) -> list[int]:
        if self.closed:
            raise OSError(9, "Bad file descriptor")
        with self._lock:
            return self._xfer(bytes(data), speed_hz)

    def _xfer(self, data: bytes, speed_hz: int) -> list[int]:
        if len(data) == 1:
            if data[0] == spi.CHECK:
                return [self._status()]
            return [0]
        status = self._status()
        cmd, ptype = data[0], data[1]
        n = ptype & 0x7F
        if len(data) not in (n + 3, n + 4) or not 1 <= n <= 64:
            return [status] * len(data)
        crcm_ok = spi.check_crcm(data)
        tail_len = len(data) - (n + 3)
        if ptype & spi.CTYPE_WRITE:
            self.transfers.append(("write", speed_hz))
            frame = data[2 : 2 + n]
            if not crcm_ok or self.reject_writes > 0:
                if self.reject_writes > 0:
                    self.reject_writes -= 1
                result = spi.RESULT_CRCM_ERR
            elif status not in (spi.STATUS_READY_COMM, spi.STATUS_SLOW_MODE):
                result = status  # not accepted: the TR holds unread data or is busy
            else:
                result = spi.RESULT_CRCM_OK
                self.written.append(frame)
                if self.sim is not None:
                    self.sim.submit_threadsafe(frame)
            rx = bytes((status, status)) + bytes(n) + bytes((0,))
            return list(rx + bytes((result,))[:tail_len])
        # read packet
        self.transfers.append(("read", speed_hz))
        if cmd == spi.CMD_MODULE_INFO:
            payload = self.module_info.encode()
            payload = (payload + bytes(32))[:n]
            rx = spi.slave_reply(
                payload, status, spi.RESULT_CRCM_OK if crcm_ok else spi.RESULT_CRCM_ERR
            )
            return list(rx[: len(data)])
        if cmd != spi.CMD_DATA or spi.data_ready_len(status) != n or not self._out:
            return [status] * len(data)
        frame = self._out[0]
        reply = bytearray(spi.slave_reply(frame, status))
        if self.corrupt_reads > 0:
            self.corrupt_reads -= 1
            reply[2 + n] ^= 0x01
        else:
            self._out.popleft()
        return list(bytes(reply)[: len(data)])
