"""The ``[uplink]`` table."""

from __future__ import annotations

from typing import Literal

from edgerun.config.base import ByteSize, Duration, Secret, Strict


class UplinkConfig(Strict):
    """MQTT uplink settings; docs/uplink.md explains each one."""

    #: ``mqtt://host:port`` or ``mqtts://host:port``, or an ordered list of them.
    url: str | list[str] = "mqtt://127.0.0.1:1883"
    enabled: bool = True
    username: str | None = None
    password: Secret | None = None
    topic_prefix: str = "edgerun"
    max_batch_readings: int = 500
    max_batch_bytes: ByteSize = ByteSize(64 * 1024)
    flush_interval: Duration = Duration(0.05)
    inflight: int = 16
    encoding: Literal["msgpack", "json"] = "msgpack"
    compression: Literal["none", "zlib"] = "none"
