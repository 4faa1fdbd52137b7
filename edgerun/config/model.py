"""The top-level configuration schema.

Each subsystem owns its table's model (``edgerun.queue.config``, ``edgerun.uplink.config``);
this module assembles them and defines what every ``[[drivers]]`` entry has in common.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Literal

import msgspec

from edgerun.clock import ClockMode
from edgerun.commands.config import CommandsConfig
from edgerun.config.base import Duration, Strict, in_range, topic_level_problem
from edgerun.logs import parse_level
from edgerun.ops.config import HttpConfig
from edgerun.queue.config import QueueConfig
from edgerun.uplink.config import UplinkConfig

RestartPolicy = Literal["backoff", "fail", "ignore"]


def _default_gateway_id() -> str:
    return os.environ.get("EDGERUN_GATEWAY_ID") or socket.gethostname()


class GatewayConfig(Strict):
    """``[gateway]``: who this gateway is and where it keeps state."""

    #: Stable gateway id; the datacenter keys everything on it. Defaults to the
    #: ``EDGERUN_GATEWAY_ID`` environment variable (a DaemonSet sets it from the node name,
    #: since a pod's hostname changes with every pod), else the hostname.
    id: str = msgspec.field(default_factory=_default_gateway_id)
    #: Where the queue, id high-water mark and driver caches live.
    data_dir: str = "/var/lib/edgerun"
    #: ``auto`` detects NTP sync; ``trusted`` when an RTC or GPS keeps time.
    clock: ClockMode = "auto"
    #: Time allowed for a graceful shutdown; keep it below the orchestrator's (k8s: 30 s).
    grace_period: Duration = Duration(10.0)
    #: Optional tenant name carried in every batch.
    tenant: str | None = None

    def __post_init__(self) -> None:
        if (why := topic_level_problem(self.id)) is not None:
            raise ValueError(f"id: {why}")
        in_range("grace_period", self.grace_period, gt=0, unit=" s")


class PluginsConfig(Strict):
    """``[plugins]``: which installed plugins may load (by entry-point name)."""

    allow: list[str] | None = None
    deny: list[str] = []


class LoggingConfig(Strict):
    """``[logging]``: level overall and per component (``edgerun.queue = "debug"``)."""

    level: str = "info"
    format: Literal["text", "json"] = "text"
    components: dict[str, str] = {}

    def __post_init__(self) -> None:
        try:
            parse_level(self.level)
        except ValueError as exc:
            raise ValueError(f"level: {exc}") from None
        for name, level in self.components.items():
            try:
                parse_level(level)
            except ValueError as exc:
                raise ValueError(f"components: {exc} (for {name!r})") from None


class DriverInstance(Strict):
    """The keys every ``[[drivers]]`` entry has; the rest belongs to the driver's model."""

    type: str
    name: str
    #: What to do when the driver fails: retry with capped exponential backoff and jitter,
    #: stop the whole process, or leave the instance stopped.
    restart: RestartPolicy = "backoff"
    #: How long ``run`` may take to signal ``started()``; a hung open is a failure.
    start_timeout: Duration = Duration(30.0)
    backoff_initial: Duration = Duration(1.0)
    backoff_max: Duration = Duration(300.0)
    enabled: bool = True
    #: The driver's own keys, validated against its config model.
    options: dict[str, Any] = {}
    #: The validated driver config object (set by the loader).
    settings: Any = None


CORE_DRIVER_KEYS = frozenset(DriverInstance.__struct_fields__) - {"options", "settings"}


class EdgerunConfig(Strict):
    """The whole file."""

    gateway: GatewayConfig = msgspec.field(default_factory=GatewayConfig)
    queue: QueueConfig = msgspec.field(default_factory=QueueConfig)
    uplink: UplinkConfig = msgspec.field(default_factory=UplinkConfig)
    commands: CommandsConfig = msgspec.field(default_factory=CommandsConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    plugins: PluginsConfig = msgspec.field(default_factory=PluginsConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    drivers: list[DriverInstance] = []
    #: Where the file came from (set by the loader, for messages).
    source: str = ""
