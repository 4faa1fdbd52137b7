"""The driver host: runs each configured driver instance under its restart policy."""

from edgerun.drivers.runner import DriverRunner, DriverStats, FatalDriverError

__all__ = ["DriverRunner", "DriverStats", "FatalDriverError"]
