"""Registers the driver. A hook only registers; the work happens in the driver object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_drivers(register: Callable[[str, Any], None]) -> None:
    # An import string: the driver module loads only on gateways that configure it.
    register("w1therm", "edgerun_w1therm.driver:W1ThermDriver")
