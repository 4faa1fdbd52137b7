"""The vendor decoder example of docs/ble.md, as an integrator's plugin module would hold it.

An "Acme" thermometer sends manufacturer data under company id 0xFFFF (the id the
Bluetooth SIG reserves for tests): a frame counter, temperature int16 LE x 0.1 °C and
battery %. The module registers its decoder through ``edgerun_register_ble_decoders``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from edgerun_ble.decoders import BadLength, Decoded, Measurement, Source

from edgerun.api import hookimpl


class AcmeDecoder:
    name = "acme"
    service_uuids: tuple[str, ...] = ()
    company_ids = (0xFFFF,)

    def decode(self, payload: bytes, source: Source) -> Decoded:
        if len(payload) != 4:
            raise BadLength(f"Acme frames are 4 bytes, got {len(payload)}")
        counter, temp, battery = struct.unpack("<BhB", payload)
        return Decoded(
            format=self.name,
            measurements=(
                Measurement("temperature", "temperature", temp / 10, "°C"),
                Measurement("battery", "battery", battery, "%"),
            ),
            counter=counter,
        )


@hookimpl
def edgerun_register_ble_decoders(register: Callable[[Any], None]) -> None:
    register(AcmeDecoder())
