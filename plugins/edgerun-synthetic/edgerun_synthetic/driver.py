"""A driver that generates readings at a set rate — the smallest complete driver.

It shows the whole contract: a config model validated by the core, ``run`` that opens its
"device", signals ``started()``, emits until cancelled (or until ``count`` readings), and
uses ``emit_many`` for throughput. Values follow a slow sine per device so dashboards look
plausible, or count up (``values = "sequence"``) so tests can check that none was lost.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from edgerun.api import Driver, DriverConfig, DriverContext, Reading, field

#: Plausible centre and swing per quantity for ``values = "wave"``.
_WAVES: dict[str, tuple[float, float]] = {
    "temperature": (21.0, 3.0),
    "relative_humidity": (45.0, 10.0),
    "co2": (650.0, 250.0),
    "pressure": (1013.0, 8.0),
    "illuminance": (300.0, 250.0),
    "voltage": (3.0, 0.2),
}

#: Readings emitted per ``emit_many`` call at full speed; large enough to amortize the
#: call, small enough that backpressure reacts within a fraction of a millisecond.
_BURST = 500
#: Shortest sleep between bursts at a set rate. Woken by a timer rather than a device, the
#: driver would otherwise wake the loop once per reading (1,000 times a second at 1,000
#: readings/s); 10 ms bursts keep the rate exact on average at a fraction of the CPU.
_TICK = 0.01


class SyntheticConfig(DriverConfig):
    """``[[drivers]] type = "synthetic"``."""

    devices: int = 10
    quantities: list[str] = field(default_factory=lambda: ["temperature"])
    #: Readings per second in total; 0 means as fast as possible.
    rate: float = 10.0
    #: Total readings to emit before stopping; 0 means unlimited.
    count: int = 0
    values: Literal["wave", "sequence"] = "wave"
    #: Fail the first N starts with an error (to exercise restart policies).
    fail_starts: int = 0

    def check(self) -> list[tuple[str, str]]:
        """Cross-field checks; the core reports them with their key path."""
        problems = []
        if self.devices < 1:
            problems.append(("devices", "must be at least 1"))
        if self.rate < 0:
            problems.append(("rate", "cannot be negative"))
        if self.count < 0:
            problems.append(("count", "cannot be negative"))
        if not self.quantities:
            problems.append(("quantities", "name at least one quantity"))
        return problems


class SyntheticDriver(Driver[SyntheticConfig]):
    """Emits ``devices × quantities`` series."""

    config_type = SyntheticConfig

    def __init__(self, name: str, config: SyntheticConfig) -> None:
        super().__init__(name, config)
        self._starts = 0
        self._seq = 0
        #: (device, quantity) of every series, in emission order.
        self._series = [(f"dev-{d}", q) for d in range(config.devices) for q in config.quantities]

    def _burst(self, first: int, n: int, now_ms: int) -> list[Reading]:
        """Readings ``first .. first + n - 1``, round-robin over the series.

        In ``wave`` mode a series' value is the same within one burst (one timestamp), so
        each series' reading is built once per burst and reused.
        """
        series = self._series
        count = len(series)
        if self.config.values == "sequence":
            return [
                Reading(series[i % count][0], series[i % count][1], i, None, now_ms)
                for i in range(first, first + n)
            ]
        # Build each series' reading once per burst, and only for series in the burst:
        # at a low rate a burst is one reading, so this is one sine, not one per series.
        if n >= count:
            every = [self._wave(k, now_ms) for k in range(count)]
            return [every[i % count] for i in range(first, first + n)]
        built: dict[int, Reading] = {}
        out = []
        for i in range(first, first + n):
            k = i % count
            reading = built.get(k)
            if reading is None:
                reading = built[k] = self._wave(k, now_ms)
            out.append(reading)
        return out

    def _wave(self, k: int, now_ms: int) -> Reading:
        """Series ``k``'s plausible value at ``now_ms``: a slow sine around a centre."""
        device, quantity = self._series[k]
        centre, swing = _WAVES.get(quantity, (10.0, 5.0))
        value = round(centre + swing * math.sin(k * 0.7 + now_ms / 600_000.0), 2)
        return Reading(device, quantity, value, None, now_ms)

    async def run(self, ctx: DriverContext) -> None:
        cfg = self.config
        self._starts += 1
        if self._starts <= cfg.fail_starts:
            raise RuntimeError(f"simulated start failure {self._starts} of {cfg.fail_starts}")
        ctx.started()
        limit = cfg.count or math.inf
        if cfg.rate == 0:
            while self._seq < limit:
                n = int(min(_BURST, limit - self._seq))
                now = ctx.now_ms()
                first = self._seq
                self._seq += n
                await ctx.emit_many(self._burst(first, n, now))
            return
        period = 1.0 / cfg.rate
        next_at = time.monotonic()
        while self._seq < limit:
            # Emit everything that is due, then sleep until the next reading is: the rate
            # holds on average even when the loop is late.
            mono = time.monotonic()
            due = min(int((mono - next_at) / period) + 1, int(min(limit - self._seq, 10_000)))
            if due > 0:
                now_ms = ctx.now_ms()
                first = self._seq
                self._seq += due
                await ctx.emit_many(self._burst(first, due, now_ms))
                next_at += due * period
            await ctx.sleep(max(_TICK, next_at - time.monotonic()))
