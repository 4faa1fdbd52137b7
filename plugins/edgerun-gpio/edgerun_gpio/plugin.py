"""Registers the GPIO driver. Hooks only register; the work is in :mod:`.driver`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_drivers(register: Callable[[str, Any], None]) -> None:
    register("gpio", "edgerun_gpio.driver:GpioDriver")
