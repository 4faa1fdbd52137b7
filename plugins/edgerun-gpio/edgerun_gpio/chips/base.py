"""The chip interface every backend implements, in physical levels.

Backends know nothing of active-low, debouncing or counting; the driver does that once for
all of them. All methods are blocking and are called from worker threads: the driver runs
:meth:`Chip.wait_edges` on a bus of its own so that output writes never queue behind it.
"""

from __future__ import annotations

import queue
import time
from typing import Literal, Protocol

import msgspec

Bias = Literal["as_is", "disabled", "pull_up", "pull_down"]

#: Edges buffered between the library's callback thread and the driver. A contact bouncing
#: at 10 kHz fills it in one second; the driver drains it every few ms, so overflow means
#: a noise source, and further edges are counted as lost rather than growing memory.
EDGE_BUFFER = 10_000


class ChipError(Exception):
    """The chip cannot be opened or a line cannot be requested; the message says why."""


class InputSpec(msgspec.Struct, frozen=True):
    line: int
    bias: Bias
    #: Deliver edge events for this line (``edge`` and ``counter`` inputs).
    edges: bool


class OutputSpec(msgspec.Struct, frozen=True):
    line: int
    #: The physical level the line is driven to as soon as it is requested.
    level: bool


class RawEdge(msgspec.Struct, frozen=True, gc=False):
    """One edge as the hardware reported it."""

    line: int
    #: The physical level after the edge.
    level: bool
    #: ``time.monotonic_ns()`` clock (CLOCK_MONOTONIC, as the kernel stamps GPIO events).
    ts_ns: int


class Chip(Protocol):
    """A GPIO controller with the driver's lines requested on it."""

    @property
    def lost_edges(self) -> int:
        """Edges the backend had to drop (buffer overflow, kernel sequence gaps)."""
        ...

    def resolve(self, line: int | str) -> int:
        """Map a configured line (offset or name) to its offset; raises :class:`ChipError`."""
        ...

    def open(self, inputs: list[InputSpec], outputs: list[OutputSpec]) -> None:
        """Request all lines at once; outputs start at their given level."""
        ...

    def read(self, line: int) -> bool: ...

    def write(self, line: int, level: bool) -> None: ...

    def wait_edges(self, timeout: float) -> list[RawEdge]:
        """Block up to ``timeout`` seconds for edges; return those available (maybe none)."""
        ...

    def close(self) -> None: ...


class EdgeBuffer:
    """A bounded hand-over of edges from a library's callback thread to :meth:`Chip.wait_edges`."""

    def __init__(self, size: int = EDGE_BUFFER) -> None:
        self._q: queue.Queue[RawEdge] = queue.Queue(size)
        self.lost = 0

    def put(self, line: int, level: bool, ts_ns: int | None = None) -> None:
        edge = RawEdge(line, level, time.monotonic_ns() if ts_ns is None else ts_ns)
        try:
            self._q.put_nowait(edge)
        except queue.Full:
            self.lost += 1

    def take(self, timeout: float) -> list[RawEdge]:
        try:
            first = self._q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return []
        edges = [first]
        while True:
            try:
                edges.append(self._q.get_nowait())
            except queue.Empty:
                return edges


__all__ = [
    "EDGE_BUFFER",
    "Bias",
    "Chip",
    "ChipError",
    "EdgeBuffer",
    "InputSpec",
    "OutputSpec",
    "RawEdge",
]
