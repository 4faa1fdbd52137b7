"""Core features registered as a plugin, through the same hooks third parties use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_commands(register: Callable[[str, str, Any], None]) -> None:
    """``edgerun tail`` and ``edgerun bridge`` are core tools registered like any plugin's
    (as import strings: their modules load only when the command runs)."""
    register("tail", "print readings arriving at a broker, live", "edgerun.uplink.tail:main")
    register(
        "bridge",
        "datacenter side: land MQTT batches in Graphite / InfluxDB",
        "edgerun.bridge.cli:main",
    )
