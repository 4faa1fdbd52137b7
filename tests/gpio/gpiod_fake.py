"""A fake of libgpiod at its lowest level, so the backend's code and gpiod's run unchanged.

* libgpiod: the real ``gpiod`` Python package runs; only its C extension's device objects
  (``gpiod._ext.Chip``, ``LineConfig``, ``LineSettings`` — the layer that issues ioctls on
  ``/dev/gpiochipN``) are replaced. Edge events are real ``gpiod.EdgeEvent`` objects and
  ``wait_edge_events`` really polls a file descriptor (a pipe the fake writes to).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import gpiod
from gpiod.line import Value


class ExtLineSettings:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class ExtLineConfig:
    def __init__(self) -> None:
        self.settings: dict[int, ExtLineSettings] = {}
        self.output_values: list[Value] | None = None

    def add_line_settings(self, offsets: list[int], settings: ExtLineSettings) -> None:
        for offset in offsets:
            self.settings[offset] = settings

    def set_output_values(self, values: list[Value]) -> None:
        self.output_values = values


class ExtRequest:
    """What ``gpiod_line_request`` is to the kernel: levels, settings, an event fd."""

    def __init__(self, chip: ExtChip, config: ExtLineConfig, consumer: str | None) -> None:
        self.chip = chip
        self.config = config
        self.consumer = consumer
        self._offsets = list(config.settings)
        self._rfd, self._wfd = os.pipe()
        self._events: list[gpiod.EdgeEvent] = []
        self._lock = threading.Lock()
        self._seq = 0
        self.released = False
        for offset, st in config.settings.items():
            if st.kwargs["direction"] == gpiod.line.Direction.OUTPUT.value:
                chip.levels[offset] = st.kwargs["output_value"] == Value.ACTIVE.value

    # the kernel's side, driven by tests
    def edge(self, offset: int, rising: bool, ts_ns: int, skip: int = 0) -> None:
        """Queue an edge event; ``skip`` events are "lost" before it (a sequence gap)."""
        with self._lock:
            self._seq += 1 + skip
            kind = gpiod.EdgeEvent.Type.RISING_EDGE if rising else gpiod.EdgeEvent.Type.FALLING_EDGE
            self.chip.levels[offset] = rising
            self._events.append(gpiod.EdgeEvent(kind.value, ts_ns, offset, self._seq, self._seq))
            os.write(self._wfd, b"e")

    # the library's side
    @property
    def chip_name(self) -> str:
        return "gpiochip0"

    @property
    def offsets(self) -> list[int]:
        return self._offsets

    @property
    def num_lines(self) -> int:
        return len(self._offsets)

    @property
    def fd(self) -> int:
        return self._rfd

    def get_values(self, offsets: list[int], values: list[Any]) -> None:
        for i, offset in enumerate(offsets):
            values[i] = Value.ACTIVE if self.chip.levels.get(offset) else Value.INACTIVE

    def set_values(self, values: dict[int, Value]) -> None:
        for offset, value in values.items():
            st = self.config.settings[offset]
            assert st.kwargs["direction"] == gpiod.line.Direction.OUTPUT.value, "not an output"
            self.chip.levels[offset] = value == Value.ACTIVE
            self.chip.writes.append((offset, value == Value.ACTIVE))

    def read_edge_events(self, max_events: int | None) -> list[gpiod.EdgeEvent]:
        with self._lock:
            n = len(self._events) if max_events is None else min(max_events, len(self._events))
            out, self._events = self._events[:n], self._events[n:]
            os.read(self._rfd, n) if n else None
            return out

    def release(self) -> None:
        self.released = True
        os.close(self._rfd)
        os.close(self._wfd)


class ExtChip:
    """Replaces ``gpiod._ext.Chip``; :data:`ExtChip.opened` lists every instance."""

    opened: list[ExtChip] = []
    names = {f"GPIO{i}": i for i in range(28)}

    def __init__(self, path: str) -> None:
        if not path.startswith("/dev/gpiochip"):
            raise OSError(2, "No such file or directory", path)
        self._path = path
        self.levels: dict[int, bool] = {}
        self.writes: list[tuple[int, bool]] = []
        self.requests: list[ExtRequest] = []
        self.closed = False
        ExtChip.opened.append(self)

    @property
    def path(self) -> str:
        return self._path

    @property
    def fd(self) -> int:
        return -1

    def get_info(self) -> gpiod.ChipInfo:
        return gpiod.ChipInfo("gpiochip0", "pinctrl-fake", 54)

    def line_offset_from_id(self, name: str) -> int:
        if name in self.names:
            return self.names[name]
        raise OSError(2, "No such file or directory")

    def get_line_name(self, offset: int) -> str | None:
        return f"GPIO{offset}" if offset < 28 else None

    def request_lines(
        self, config: ExtLineConfig, consumer: str | None, event_buffer_size: int | None
    ) -> ExtRequest:
        req = ExtRequest(self, config, consumer)
        self.requests.append(req)
        return req

    def close(self) -> None:
        self.closed = True


def install_gpiod(monkeypatch: Any) -> type[ExtChip]:
    ExtChip.opened = []
    monkeypatch.setattr(gpiod._ext, "Chip", ExtChip)
    monkeypatch.setattr(gpiod._ext, "LineConfig", ExtLineConfig)
    monkeypatch.setattr(gpiod._ext, "LineSettings", ExtLineSettings)
    return ExtChip
