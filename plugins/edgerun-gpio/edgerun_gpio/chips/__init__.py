"""GPIO chip backends behind one small interface (:class:`.base.Chip`).

Each backend module imports its hardware library only inside :func:`open_chip`, so the
plugin loads (``edgerun plugins``, ``check-config``) on machines without the library.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING

from edgerun_gpio.chips.base import Chip, ChipError, InputSpec, OutputSpec, RawEdge

if TYPE_CHECKING:
    from edgerun_gpio.config import GpioConfig


def detect_backend(chip: str) -> str:
    """Pick ``gpiod`` when its bindings import and a chip device exists, else ``rpigpio``.

    :raises ChipError: neither library is usable.
    """
    import importlib.util

    if importlib.util.find_spec("gpiod") is not None and (
        glob.glob("/dev/gpiochip*") or chip.startswith("/dev/")
    ):
        return "gpiod"
    if importlib.util.find_spec("RPi") is not None:
        return "rpigpio"
    raise ChipError(
        "no GPIO library found: install the gpiod bindings (pip install 'edgerun-gpio[gpiod]') "
        "or RPi.GPIO / rpi-lgpio, or set backend explicitly"
    )


def open_chip(config: GpioConfig) -> Chip:
    """Build (but not yet request lines on) the chip the config names."""
    backend = config.backend
    if backend == "auto":
        backend = detect_backend(config.chip)  # type: ignore[assignment]
    if backend == "gpiod":
        from edgerun_gpio.chips.gpiod import GpiodChip

        return GpiodChip(config.chip)
    if backend == "rpigpio":
        from edgerun_gpio.chips.rpigpio import RpiGpioChip

        return RpiGpioChip()
    from edgerun_gpio.chips.sim import SimChip

    return SimChip(config.chip, config.sim_file)


__all__ = ["Chip", "ChipError", "InputSpec", "OutputSpec", "RawEdge", "detect_backend", "open_chip"]
