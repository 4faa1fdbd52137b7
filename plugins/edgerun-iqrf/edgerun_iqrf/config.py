"""Configuration of the ``iqrf`` driver (one ``[[drivers]]`` table per coordinator).

```toml
[[drivers]]
type = "iqrf"
name = "mesh"
transport = "uart"            # uart | cdc | spi
port = "/dev/ttyS0"           # /dev/ttyACM0 for CDC, /dev/spidev0.0 for SPI
poll_interval = "60s"
read_strategy = "auto"        # auto | frc | per-node
hwpid = [0x0602]              # only nodes with these HWPIDs (empty: all)
retry_interval = "5m"         # how often an unresponsive node is tried again
[drivers.nodes.7]
strategy = "per-node"
poll_interval = "10m"
```

``poll_interval`` is at least 1 s: a DPA mesh carries one transaction at a time and a
cycle of even a small network takes a second or more of air time.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from edgerun.api import DriverConfig, Duration

Strategy = Literal["auto", "frc", "per-node"]


class NodeOverride(DriverConfig):
    """Per-node settings, keyed by the node address."""

    enabled: bool = True
    strategy: Strategy | None = None
    poll_interval: Duration | None = None


class IqrfConfig(DriverConfig):
    port: str
    transport: Literal["uart", "cdc", "spi"] = "uart"
    baudrate: int = 57600
    hwpid: list[int] = msgspec.field(default_factory=list)
    poll_interval: Duration = Duration(60.0)
    read_strategy: Strategy = "auto"
    retry_interval: Duration = Duration(300.0)
    #: Further attempts for enumeration and commands (reads retry at the next cycle).
    retries: int = 2
    nodes: dict[str, NodeOverride] = msgspec.field(default_factory=dict)
    #: Multiplies every DPA wait; 1 for real hardware (the simulator's --speed N needs 1/N).
    time_scale: float = 1.0

    def check(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.poll_interval < 1:
            problems.append(("poll_interval", "must be at least 1 second"))
        if not 0 < self.time_scale <= 1:
            problems.append(("time_scale", "must be in (0, 1]"))
        if not 0 <= self.retries <= 5:
            problems.append(("retries", "must be 0-5"))
        for h in self.hwpid:
            if not 0 <= h <= 0xFFFF:
                problems.append(("hwpid", f"{h} is not a 16-bit HWPID"))
        for key in self.nodes:
            if not key.isdigit() or not 1 <= int(key) <= 0xEF:
                problems.append((f"nodes.{key}", "must be a node address 1-239"))
        return problems

    def override(self, addr: int) -> NodeOverride | None:
        return self.nodes.get(str(addr))
