"""A simulated GPIO chip for tests and demos.

It behaves like a real chip seen from the driver: requested lines, pull bias deciding an
unconnected input's level, outputs keeping their level, edge events with monotonic
timestamps. :meth:`SimChip.drive` plays the outside world (a contact closing, a meter
pulsing, a bouncing switch); :meth:`SimChip.level` reads what an output drives.

With ``sim_file`` every level change is mirrored, atomically, to a small JSON file
(``{"lines": {"17": true}, "outputs": [17]}``), so another process can watch the outputs —
including after the driver's process was killed, when a real line would keep its level too.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from edgerun_gpio.chips.base import ChipError, EdgeBuffer, InputSpec, OutputSpec, RawEdge

#: Lines a simulated chip has, like a Raspberry Pi's 54-line bank.
SIM_LINES = 54


class SimChip:
    """An in-memory GPIO chip."""

    def __init__(self, name: str = "sim", sim_file: str | None = None) -> None:
        self.name = name
        self.sim_file = Path(sim_file) if sim_file else None
        self._levels: dict[int, bool] = {}
        self._outputs: set[int] = set()
        self._edge_lines: set[int] = set()
        self._edges = EdgeBuffer()
        self._lock = threading.Lock()
        self.opened = False
        self.closed = False
        #: Every physical level written to an output, in order: ``(line, level)``.
        self.writes: list[tuple[int, bool]] = []

    @property
    def lost_edges(self) -> int:
        return self._edges.lost

    def resolve(self, line: int | str) -> int:
        if isinstance(line, str):
            if line.startswith("GPIO") and line[4:].isdigit():
                line = int(line[4:])
            else:
                raise ChipError(f"simulated chip {self.name} has no line named {line!r}")
        if not 0 <= line < SIM_LINES:
            raise ChipError(f"simulated chip {self.name} has lines 0-{SIM_LINES - 1}, not {line}")
        return line

    def open(self, inputs: list[InputSpec], outputs: list[OutputSpec]) -> None:
        with self._lock:
            for spec in inputs:
                self._levels.setdefault(spec.line, spec.bias == "pull_up")
                if spec.edges:
                    self._edge_lines.add(spec.line)
            for out in outputs:
                self._outputs.add(out.line)
                self._levels[out.line] = out.level
                self.writes.append((out.line, out.level))
            self.opened = True
            self._mirror()

    # ---------------------------------------------------------------- the driver's side

    def read(self, line: int) -> bool:
        with self._lock:
            return self._levels.get(line, False)

    def write(self, line: int, level: bool) -> None:
        with self._lock:
            if line not in self._outputs:
                raise ChipError(f"line {line} is not requested as an output")
            self._levels[line] = level
            self.writes.append((line, level))
            self._mirror()

    def wait_edges(self, timeout: float) -> list[RawEdge]:
        return self._edges.take(timeout)

    def close(self) -> None:
        self.closed = True

    # ---------------------------------------------------------------- the world's side

    def drive(self, line: int, level: bool, ts_ns: int | None = None) -> None:
        """Set an input's physical level from outside; an edge event follows if it changed."""
        with self._lock:
            if line in self._outputs:
                raise ChipError(f"line {line} is an output")
            changed = self._levels.get(line) != level
            self._levels[line] = level
            if changed and line in self._edge_lines:
                self._edges.put(line, level, ts_ns)

    def level(self, line: int) -> bool:
        """The physical level of a line now."""
        return self.read(line)

    def _mirror(self) -> None:
        if self.sim_file is None:
            return
        body = json.dumps(
            {
                "lines": {str(k): v for k, v in sorted(self._levels.items())},
                "outputs": sorted(self._outputs),
            }
        )
        self.sim_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.sim_file.parent, prefix=".sim-")
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        os.replace(tmp, self.sim_file)


def read_sim_file(path: Path) -> dict[int, bool]:
    """The line levels a simulated chip last mirrored to ``path``."""
    data = json.loads(path.read_text())
    return {int(k): bool(v) for k, v in data["lines"].items()}


__all__ = ["SIM_LINES", "SimChip", "read_sim_file"]
