"""The GPIO driver's config model: ``[[drivers]] type = "gpio"`` with inputs and outputs.

Defaults and their reasons:

* ``debounce = 10 ms``: mechanical contacts (reed switches, push buttons, relay contacts
  of pulse meters) bounce for 1-5 ms; 10 ms filters that and still passes 40 pulses per
  second, above what S0 energy meters (≤ 17 Hz) and traffic loops produce.
* ``interval = 60 s`` for counters: one count reading per minute is what dashboards plot;
  the running total is persisted at the same pace, so a crash loses at most one interval.
* ``max_pulse = 10 s``: a pulse holds a command slot while it runs; keep it below the
  ``[commands] timeout`` (30 s by default), which cancels longer ones.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from edgerun.api import DriverConfig, Duration, field

Bias = Literal["as_is", "disabled", "pull_up", "pull_down"]
Backend = Literal["auto", "gpiod", "rpigpio", "sim"]

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class InputConfig(DriverConfig):
    """One input line."""

    #: Device id of the readings (also the name in logs).
    name: str
    #: Line offset on the chip (BCM number on a Raspberry Pi) or, with gpiod, a line name.
    line: int | str
    #: ``level``: sample every ``interval`` (quantity ``binary``); ``edge``: report each
    #: debounced change (``binary``); ``counter``: count debounced edges and report
    #: ``count`` per interval and ``count_total``.
    mode: Literal["level", "edge", "counter"] = "level"
    #: The line reads low when active (a switch to ground with a pull-up).
    active_low: bool = False
    bias: Bias = "as_is"
    #: A change counts only once the line has been stable this long; 0 turns it off.
    debounce: Duration = Duration(0.010)
    #: Sampling (``level``) or reporting (``counter``) interval.
    interval: Duration = Duration(60.0)
    #: Which debounced edges a counter counts, after ``active_low`` is applied.
    count_on: Literal["rising", "falling", "both"] = "rising"


class OutputConfig(DriverConfig):
    """One output line; it changes only through commands."""

    name: str
    line: int | str
    active_low: bool = False
    #: The logical state applied at start (also after a crash) and at shutdown.
    safe_state: bool = False
    #: Longest pulse a command may ask for.
    max_pulse: Duration = Duration(10.0)


class GpioConfig(DriverConfig):
    """``[[drivers]] type = "gpio"``; docs/gpio.md has a complete example."""

    #: ``auto`` takes gpiod when a chip device exists, else RPi.GPIO; never the simulator.
    backend: Backend = "auto"
    #: The character device (gpiod) or simulated chip name.
    chip: str = "/dev/gpiochip0"
    #: For ``backend = "sim"``: a JSON file mirroring the simulated line levels, so that
    #: another process (a test, a demo) can watch the outputs.
    sim_file: str | None = None
    inputs: list[InputConfig] = field(default_factory=list)
    outputs: list[OutputConfig] = field(default_factory=list)

    def check(self) -> list[tuple[str, str]]:
        """Cross-field checks, reported by the core with their key path."""
        problems: list[tuple[str, str]] = []
        names: set[str] = set()
        lines: set[int | str] = set()
        entries = [("inputs", e) for e in self.inputs] + [("outputs", e) for e in self.outputs]
        counters: dict[str, int] = {"inputs": 0, "outputs": 0}
        for table, entry in entries:
            where = f"{table}[{counters[table]}]"
            counters[table] += 1
            if not _NAME.match(entry.name):
                problems.append((f"{where}.name", "use 1-64 of A-Z a-z 0-9 _ . : -"))
            if entry.name in names:
                problems.append((f"{where}.name", f"{entry.name!r} is used twice"))
            names.add(entry.name)
            if entry.line in lines:
                problems.append((f"{where}.line", f"line {entry.line!r} is used twice"))
            lines.add(entry.line)
            if isinstance(entry.line, int) and entry.line < 0:
                problems.append((f"{where}.line", "cannot be negative"))
            if isinstance(entry.line, str) and self.backend == "rpigpio":
                problems.append((f"{where}.line", "RPi.GPIO needs a BCM number"))
            if isinstance(entry, InputConfig):
                if entry.interval <= 0 and entry.mode != "edge":
                    problems.append((f"{where}.interval", "must be positive"))
                if entry.debounce > 10.0:
                    problems.append((f"{where}.debounce", "longer than 10 s is not a debounce"))
            elif not (0 < entry.max_pulse <= 3600 and math.isfinite(entry.max_pulse)):
                problems.append((f"{where}.max_pulse", "must be between 0 and 1 h"))
        if not entries:
            problems.append(("inputs", "configure at least one input or output"))
        return problems


__all__ = ["Backend", "Bias", "GpioConfig", "InputConfig", "OutputConfig"]
