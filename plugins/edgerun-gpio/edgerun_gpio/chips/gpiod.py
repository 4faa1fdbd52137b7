"""libgpiod v2 backend: the kernel's GPIO character device through the ``gpiod`` bindings.

Works on any Linux board with GPIO uAPI v2 (kernel ≥ 5.10), including the Raspberry Pi 5,
whose RP1 chip the old RPi.GPIO cannot drive. All lines are requested in one request so
the kernel applies them together; edge events carry CLOCK_MONOTONIC timestamps and
per-line sequence numbers, and a gap in those numbers means the kernel's event buffer
overflowed — those edges are counted in :attr:`GpiodChip.lost_edges`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from edgerun_gpio.chips.base import ChipError, InputSpec, OutputSpec, RawEdge

#: Edge events read per call: bounds one read, the loop calls again at once if more wait.
READ_EVENTS = 64
#: Events the kernel buffers per request line between two reads (the kernel default is
#: 16 per line; 64 rides out a few ms of a busy thread at kHz edge rates).
EVENT_BUFFER_PER_LINE = 64


class GpiodChip:
    """One ``/dev/gpiochipN`` with the driver's lines requested."""

    def __init__(self, path: str) -> None:
        import gpiod

        self._gpiod = gpiod
        self.path = path
        self.lost_edges = 0
        self._request: Any = None
        self._seqno: dict[int, int] = {}
        try:
            self._chip: Any = gpiod.Chip(path)
        except (OSError, ValueError) as exc:
            raise ChipError(f"cannot open GPIO chip {path}: {exc}") from exc

    def resolve(self, line: int | str) -> int:
        if isinstance(line, int):
            return line
        try:
            return int(self._chip.line_offset_from_id(line))
        except (OSError, ValueError) as exc:
            raise ChipError(f"{self.path} has no line named {line!r}") from exc

    def open(self, inputs: list[InputSpec], outputs: list[OutputSpec]) -> None:
        from gpiod.line import Bias, Direction, Edge, Value

        bias = {
            "as_is": Bias.AS_IS,
            "disabled": Bias.DISABLED,
            "pull_up": Bias.PULL_UP,
            "pull_down": Bias.PULL_DOWN,
        }
        config: dict[Any, Any] = {}
        for spec in inputs:
            config[spec.line] = self._gpiod.LineSettings(
                direction=Direction.INPUT,
                bias=bias[spec.bias],
                edge_detection=Edge.BOTH if spec.edges else Edge.NONE,
            )
        for out in outputs:
            config[out.line] = self._gpiod.LineSettings(
                direction=Direction.OUTPUT,
                output_value=Value.ACTIVE if out.level else Value.INACTIVE,
            )
        try:
            self._request = self._chip.request_lines(
                config,
                consumer="edgerun",
                event_buffer_size=EVENT_BUFFER_PER_LINE * max(1, len(inputs)),
            )
        except (OSError, ValueError) as exc:
            raise ChipError(f"cannot request lines {sorted(config)} on {self.path}: {exc}") from exc

    def read(self, line: int) -> bool:
        from gpiod.line import Value

        return bool(self._request.get_value(line) == Value.ACTIVE)

    def write(self, line: int, level: bool) -> None:
        from gpiod.line import Value

        self._request.set_value(line, Value.ACTIVE if level else Value.INACTIVE)

    def wait_edges(self, timeout: float) -> list[RawEdge]:
        if not self._request.wait_edge_events(timedelta(seconds=max(0.0, timeout))):
            return []
        rising = self._gpiod.EdgeEvent.Type.RISING_EDGE
        edges = []
        for event in self._request.read_edge_events(READ_EVENTS):
            offset = event.line_offset
            last = self._seqno.get(offset)
            if last is not None and event.line_seqno > last + 1:
                self.lost_edges += event.line_seqno - last - 1
            self._seqno[offset] = event.line_seqno
            edges.append(RawEdge(offset, event.event_type == rising, event.timestamp_ns))
        return edges

    def close(self) -> None:
        try:
            if self._request is not None:
                self._request.release()
        finally:
            self._request = None
            self._chip.close()


__all__ = ["GpiodChip"]
