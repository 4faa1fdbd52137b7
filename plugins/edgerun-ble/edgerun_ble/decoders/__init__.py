"""Sans-io decoders for BLE advertisement formats, one module per format.

:mod:`.base` defines the interface a decoder implements (also the one a vendor plugin
implements); :mod:`.registry` dispatches payloads to decoders by service UUID and company id.
"""

from __future__ import annotations

from edgerun_ble.decoders.base import (
    AddressMismatch,
    AuthenticationFailed,
    BadLength,
    Decoded,
    DecodeError,
    Decoder,
    KeyMissing,
    Measurement,
    PlaintextRejected,
    Replayed,
    Source,
    UnknownFormat,
    normalize_address,
    normalize_uuid,
)


def builtin_decoders() -> list[Decoder]:
    """The decoders shipped with the driver: BTHome v2, RuuviTag 5, ATC/pvvx."""
    from edgerun_ble.decoders.atc import ATCDecoder
    from edgerun_ble.decoders.bthome import BTHomeDecoder
    from edgerun_ble.decoders.ruuvi import RuuviDecoder

    return [BTHomeDecoder(), RuuviDecoder(), ATCDecoder()]


__all__ = [
    "AddressMismatch",
    "AuthenticationFailed",
    "BadLength",
    "DecodeError",
    "Decoded",
    "Decoder",
    "KeyMissing",
    "Measurement",
    "PlaintextRejected",
    "Replayed",
    "Source",
    "UnknownFormat",
    "builtin_decoders",
    "normalize_address",
    "normalize_uuid",
]
