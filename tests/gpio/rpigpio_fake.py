"""A stand-in for the ``RPi.GPIO`` module: the module's functions are the device interface
(they drive the SoC's registers), so a module with the same functions and constants replaces
it; edge callbacks are called from a thread of the fake's own, as RPi.GPIO does."""

from __future__ import annotations

import threading
import types
from typing import Any


class FakeRpiGpio(types.ModuleType):
    """A stand-in for the ``RPi.GPIO`` module."""

    BCM, BOARD = 11, 10
    IN, OUT = 1, 0
    HIGH, LOW = 1, 0
    PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
    RISING, FALLING, BOTH = 31, 32, 33

    def __init__(self) -> None:
        super().__init__("RPi.GPIO")
        self.mode: int | None = None
        self.setups: dict[int, dict[str, Any]] = {}
        self.levels: dict[int, int] = {}
        self.callbacks: dict[int, Any] = {}
        self.cleaned: list[int] = []
        self.writes: list[tuple[int, int]] = []

    def setwarnings(self, flag: bool) -> None:
        pass

    def setmode(self, mode: int) -> None:
        self.mode = mode

    def setup(self, channel: int, direction: int, **kw: Any) -> None:
        if self.mode is None:
            raise RuntimeError("Please set pin numbering mode using GPIO.setmode")
        self.setups[channel] = {"direction": direction, **kw}
        if direction == self.OUT:
            self.levels[channel] = kw.get("initial", self.LOW)
        else:
            self.levels.setdefault(channel, 1 if kw.get("pull_up_down") == self.PUD_UP else 0)

    def input(self, channel: int) -> int:
        return self.levels[channel]

    def output(self, channel: int, value: int) -> None:
        if self.setups.get(channel, {}).get("direction") != self.OUT:
            raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
        self.levels[channel] = value
        self.writes.append((channel, value))

    def add_event_detect(
        self, channel: int, edge: int, callback: Any = None, bouncetime: int = 0
    ) -> None:
        assert edge == self.BOTH
        self.callbacks[channel] = callback

    def remove_event_detect(self, channel: int) -> None:
        self.callbacks.pop(channel, None)

    def cleanup(self, channels: list[int] | None = None) -> None:
        self.cleaned.extend(channels or list(self.setups))

    # the outside world
    def drive(self, channel: int, level: int) -> None:
        """Change an input's level and fire its callback from another thread."""
        self.levels[channel] = level
        cb = self.callbacks.get(channel)
        if cb is not None:
            t = threading.Thread(target=cb, args=(channel,))
            t.start()
            t.join()
