"""RPi.GPIO backend for older Raspberry Pi OS images (and rpi-lgpio, its drop-in for Pi 5).

RPi.GPIO delivers edges to a callback on its own thread with the channel number only; the
level is read in the callback and stamped with the monotonic clock there, then handed to
the driver through a bounded :class:`~edgerun_gpio.chips.base.EdgeBuffer`. Lines are BCM
numbers. At close, edge detection is removed and *input* channels are released; outputs
are left driven at the level the driver set last (the safe state), because releasing them
would make them float.
"""

from __future__ import annotations

from typing import Any

from edgerun_gpio.chips.base import ChipError, EdgeBuffer, InputSpec, OutputSpec, RawEdge


class RpiGpioChip:
    """The Pi's GPIO header through RPi.GPIO (BCM numbering)."""

    def __init__(self) -> None:
        try:
            import RPi.GPIO as gpio
        except (ImportError, RuntimeError) as exc:  # RuntimeError: "not a Raspberry Pi"
            raise ChipError(f"RPi.GPIO is not usable here: {exc}") from exc
        self._gpio: Any = gpio
        self._edges = EdgeBuffer()
        self._inputs: list[int] = []
        self._watched: list[int] = []

    @property
    def lost_edges(self) -> int:
        return self._edges.lost

    def resolve(self, line: int | str) -> int:
        if isinstance(line, str):
            raise ChipError(f"RPi.GPIO addresses lines by BCM number, not by name ({line!r})")
        return line

    def open(self, inputs: list[InputSpec], outputs: list[OutputSpec]) -> None:
        gpio = self._gpio
        gpio.setwarnings(False)
        gpio.setmode(gpio.BCM)
        pulls = {"disabled": gpio.PUD_OFF, "pull_up": gpio.PUD_UP, "pull_down": gpio.PUD_DOWN}
        try:
            for out in outputs:
                gpio.setup(out.line, gpio.OUT, initial=gpio.HIGH if out.level else gpio.LOW)
            for spec in inputs:
                if spec.bias == "as_is":
                    gpio.setup(spec.line, gpio.IN)
                else:
                    gpio.setup(spec.line, gpio.IN, pull_up_down=pulls[spec.bias])
                self._inputs.append(spec.line)
                if spec.edges:
                    gpio.add_event_detect(spec.line, gpio.BOTH, callback=self._on_edge)
                    self._watched.append(spec.line)
        except (RuntimeError, ValueError) as exc:
            raise ChipError(f"RPi.GPIO refused a line: {exc}") from exc

    def _on_edge(self, channel: int) -> None:
        # Runs on RPi.GPIO's thread: read the level now, stamp it, hand it over.
        self._edges.put(channel, bool(self._gpio.input(channel)))

    def read(self, line: int) -> bool:
        return bool(self._gpio.input(line))

    def write(self, line: int, level: bool) -> None:
        self._gpio.output(line, self._gpio.HIGH if level else self._gpio.LOW)

    def wait_edges(self, timeout: float) -> list[RawEdge]:
        return self._edges.take(timeout)

    def close(self) -> None:
        gpio = self._gpio
        for line in self._watched:
            gpio.remove_event_detect(line)
        if self._inputs:
            gpio.cleanup(self._inputs)
        self._watched.clear()
        self._inputs.clear()


__all__ = ["RpiGpioChip"]
