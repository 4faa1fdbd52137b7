"""Registers the built-in sinks (graphite, influxdb) through the plugin hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_sinks(register: Callable[[str, type[Any]], None]) -> None:
    from edgerun.bridge.sinks.graphite import GraphiteSink
    from edgerun.bridge.sinks.influxdb import InfluxSink

    register("graphite", GraphiteSink)
    register("influxdb", InfluxSink)
