"""Registers the built-in sinks (graphite, influxdb) through the plugin hook.

Import strings, not classes: a process that loads plugins without running the bridge (the
gateway itself) does not import the sink modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_sinks(register: Callable[[str, type[Any] | str], None]) -> None:
    register("graphite", "edgerun.bridge.sinks.graphite:GraphiteSink")
    register("influxdb", "edgerun.bridge.sinks.influxdb:InfluxSink")
