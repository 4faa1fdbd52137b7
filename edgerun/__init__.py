"""edgerun: a runtime for IoT gateways.

Drivers produce readings, the core normalizes them, a durable queue keeps them and the
uplink ships them upstream in batches. Driver authors import :mod:`edgerun.api` only.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgerun")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
