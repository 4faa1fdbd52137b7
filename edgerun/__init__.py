"""edgerun: a runtime for IoT gateways.

Drivers produce readings, the core normalizes them, a durable queue keeps them and the
uplink ships them upstream in batches. Driver authors import :mod:`edgerun.api` only.
"""

#: The one place the version is written; pyproject.toml reads it from here. Not looked up with
#: importlib.metadata at run time: that import alone costs the gateway about 1 MiB of RSS.
__version__ = "0.1.0"

__all__ = ["__version__"]
