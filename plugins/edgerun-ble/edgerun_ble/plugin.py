"""Registers the ``ble`` driver type and the ``edgerun ble`` command.

Hooks only register; the driver, decoders and CLI import bleak and cryptography when they
run, so ``edgerun plugins`` works on a machine without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_drivers(register: Callable[[str, Any], None]) -> None:
    register("ble", "edgerun_ble.driver:BleDriver")


@hookimpl
def edgerun_register_commands(
    register: Callable[[str, str, Any], None],
) -> None:
    register("ble", "BLE tools: decode advertisements", "edgerun_ble.cli:main")
