"""Reads 1-Wire thermometers from the kernel's w1 sysfs.

The kernel's ``w1-therm`` module exposes each thermometer as a directory
``<family>-<serial>``; reading its ``temperature`` file triggers a conversion (up to 750 ms
at 12-bit resolution) and returns millidegrees Celsius. Those reads block, so they run in a
worker thread on the ``w1`` bus limiter: one conversion at a time, as the bus master does.
"""

from __future__ import annotations

from pathlib import Path

from edgerun.api import Driver, DriverConfig, DriverContext, Duration, Reading, field

#: 1-Wire family codes of thermometers handled by w1-therm.
THERMOMETER_FAMILIES = ("10-", "22-", "28-", "3b-", "42-")


class W1ThermConfig(DriverConfig):
    """``[[drivers]] type = "w1therm"``."""

    #: Where the kernel exposes the 1-Wire bus.
    root: str = "/sys/bus/w1/devices"
    #: Time between two reads of every sensor.
    interval: Duration = Duration(30.0)
    #: Only these sensor serials; empty means every thermometer found.
    sensors: list[str] = field(default_factory=list)

    def check(self) -> list[tuple[str, str]]:
        return [("interval", "must be at least 1 second")] if self.interval < 1 else []


def read_millidegrees(path: Path) -> int:
    """Blocking read of one ``temperature`` file (runs in a worker thread)."""
    return int(path.read_text(encoding="ascii").strip())


class W1ThermDriver(Driver[W1ThermConfig]):
    """One reading per thermometer per interval."""

    config_type = W1ThermConfig

    def _sensors(self) -> list[Path]:
        root = Path(self.config.root)
        found = sorted(p for p in root.iterdir() if p.name.startswith(THERMOMETER_FAMILIES))
        if self.config.sensors:
            found = [p for p in found if p.name in self.config.sensors]
        return found

    async def run(self, ctx: DriverContext) -> None:
        root = Path(self.config.root)
        if not await ctx.run_sync(root.is_dir, bus="w1"):
            raise FileNotFoundError(f"1-Wire bus not found at {root} (is w1-gpio loaded?)")
        ctx.started()
        while True:
            for sensor in await ctx.run_sync(self._sensors, bus="w1"):
                try:
                    milli = await ctx.run_sync(read_millidegrees, sensor / "temperature", bus="w1")
                except (OSError, ValueError) as exc:
                    ctx.count("read_errors")
                    ctx.log.warning("sensor %s: %s", sensor.name, exc)
                    continue
                await ctx.emit(Reading(sensor.name, "temperature", milli / 1000))
            await ctx.sleep(self.config.interval)
