"""Core features registered as a plugin, through the same hooks third parties use."""

from __future__ import annotations

from collections.abc import Callable

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_commands(
    register: Callable[[str, str, Callable[[list[str]], int]], None],
) -> None:
    """``edgerun tail`` is a core tool registered like any plugin's."""

    def tail(argv: list[str]) -> int:
        from edgerun.uplink.tail import main

        code: int = main(argv)
        return code

    def bridge(argv: list[str]) -> int:
        from edgerun.bridge.cli import main

        code: int = main(argv)
        return code

    register("tail", "print readings arriving at a broker, live", tail)
    register("bridge", "datacenter side: land MQTT batches in Graphite / InfluxDB", bridge)
