"""queue -> uplink: MQTT batches upstream (aiomqtt is confined to :mod:`edgerun.uplink.mqtt`).

The package is imported by the configuration schema (``edgerun.uplink.config``), so the
heavy parts load lazily: ``from edgerun.uplink import Uplink`` imports the MQTT client only
when it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgerun.uplink.stats import UplinkStats
    from edgerun.uplink.uplink import Uplink


def __getattr__(name: str) -> Any:
    if name == "Uplink":
        from edgerun.uplink.uplink import Uplink

        return Uplink
    if name == "UplinkStats":
        from edgerun.uplink.stats import UplinkStats

        return UplinkStats
    raise AttributeError(name)


__all__ = ["Uplink", "UplinkStats"]
