"""The one small interface every TR-module transport implements.

A transport moves whole DPA frames: :meth:`Transport.send` hands one frame to the TR,
:meth:`Transport.receive` returns the next frame the TR sent (confirmation, response,
asynchronous message), in order. Framing errors are counted in :attr:`Transport.counters`
and dropped, never raised to the caller. ``open_transport`` builds one by name and imports
only that transport's modules (a UART gateway never loads the CDC or SPI protocol code); the
hardware libraries are imported when the transport opens.

Received frames wait in a bounded queue (256 frames, far more than the coordinator can
produce between two reads of the engine); when it is full the oldest frame is dropped and
counted, so a stalled consumer cannot grow memory.
"""

from __future__ import annotations

import abc
import asyncio
from collections import Counter
from typing import Final

from edgerun_iqrf.errors import TransportError
from edgerun_iqrf.module_info import ModuleInfo

RX_QUEUE_FRAMES: Final = 256


class Transport(abc.ABC):
    """A connection to a TR module carrying DPA frames."""

    #: ``"uart"``, ``"cdc"`` or ``"spi"``.
    name: str = ""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self._rx: asyncio.Queue[bytes | BaseException] = asyncio.Queue(RX_QUEUE_FRAMES)
        self._closed = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the device; raises :class:`TransportError` when it cannot."""

    @abc.abstractmethod
    async def send(self, frame: bytes) -> None:
        """Hand one DPA frame to the TR; raises :class:`TransportError` when refused."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the device; idempotent."""

    async def receive(self) -> bytes:
        """The next DPA frame from the TR; raises :class:`TransportError` once closed/failed."""
        item = await self._rx.get()
        if isinstance(item, BaseException):
            self._rx.put_nowait(item)  # every later call fails the same way
            raise item
        return item

    async def reset(self) -> bool:
        """Reset the TR module where the transport can; False when it cannot."""
        return False

    async def module_info(self) -> ModuleInfo | None:
        """TR module identification where the transport offers it."""
        return None

    def resync(self) -> None:
        """Forget partial input after an error (the deframer restarts at the next flag)."""
        self.counters["resyncs"] += 1

    # ------------------------------------------------------------------ for subclasses

    def _deliver(self, frame: bytes) -> None:
        self.counters["frames_rx"] += 1
        if self._rx.full():
            self._rx.get_nowait()
            self.counters["rx_overflow"] += 1
        self._rx.put_nowait(frame)

    def _fail(self, exc: BaseException) -> None:
        while self._rx.full():
            self._rx.get_nowait()
        self._rx.put_nowait(exc if isinstance(exc, TransportError) else TransportError(str(exc)))


def open_transport(kind: str, port: str, *, baudrate: int | None = None) -> Transport:
    """Build (not yet open) the transport ``kind`` for ``port``.

    :raises ValueError: unknown kind.
    """
    if kind == "uart":
        from edgerun_iqrf.serial_transport import UartTransport

        return UartTransport(port, baudrate=baudrate or 57600)
    if kind == "cdc":
        from edgerun_iqrf.cdc_transport import CdcTransport

        return CdcTransport(port)
    if kind == "spi":
        from edgerun_iqrf.spi_transport import SpiTransport, open_spidev

        return SpiTransport(lambda: open_spidev(port))
    raise ValueError(f"unknown IQRF transport {kind!r} (uart, cdc or spi)")
