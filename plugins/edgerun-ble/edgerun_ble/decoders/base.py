"""The decoder interface: what a BLE advertisement decoder receives and returns.

A decoder is sans-io: it turns the bytes of one service-data or manufacturer-data entry
into measurements and never keeps state between calls. Everything stateful (replay
protection, dedupe, rate limits) belongs to :mod:`edgerun_ble.pipeline`, so one decoder
object can serve every device and can be fed arbitrary bytes in tests.

A decoder is any object with these attributes (see :class:`Decoder`)::

    name: str                       # format name, e.g. "bthome"; used in allow/deny lists
    service_uuids: Collection[str]  # service-data UUIDs it decodes (16-bit "fcd2" or 128-bit)
    company_ids: Collection[int]    # manufacturer-data company ids it decodes
    def decode(self, payload: bytes, source: Source) -> Decoded: ...

``decode`` returns a :class:`Decoded` or raises a :class:`DecodeError` subclass; any other
exception is counted as a decoder fault by the driver. The payload is what bleak reports:
without the AD header, without the UUID or company-id bytes.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Protocol, runtime_checkable

import msgspec

from edgerun.api import Value

#: The Bluetooth base UUID suffix; 16- and 32-bit UUIDs are short forms of it.
BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_UUID128 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID_SHORT = re.compile(r"^(0x)?([0-9a-f]{4}|[0-9a-f]{8})$")


def normalize_uuid(uuid: str) -> str:
    """Return ``uuid`` as bleak spells it: full 128-bit, lowercase.

    Accepts 16-bit (``fcd2``, ``0xFCD2``), 32-bit and 128-bit forms.

    :raises ValueError: not a UUID.
    """
    text = uuid.strip().lower()
    if _UUID128.match(text):
        return text
    m = _UUID_SHORT.match(text)
    if m is None:
        raise ValueError(f"not a UUID: {uuid!r} (expected e.g. fcd2 or a 128-bit UUID)")
    return m.group(2).rjust(8, "0") + BASE_UUID_SUFFIX


def short_uuid(uuid: str) -> int | None:
    """Return the 16-bit value of a normalized base UUID, or ``None`` for other UUIDs."""
    if uuid.endswith(BASE_UUID_SUFFIX) and uuid.startswith("0000"):
        return int(uuid[4:8], 16)
    return None


def normalize_address(address: str) -> str:
    """Return a MAC address as ``AA:BB:CC:DD:EE:FF``.

    :raises ValueError: not a 48-bit address.
    """
    text = address.strip().upper().replace("-", ":")
    if len(text) == 12 and ":" not in text:
        text = ":".join(text[i : i + 2] for i in range(0, 12, 2))
    if not _ADDRESS.match(text):
        raise ValueError(f"not a Bluetooth address: {address!r}")
    return text


def address_bytes(address: str) -> bytes:
    """The six bytes of a normalized address in display order."""
    return bytes.fromhex(address.replace(":", ""))


class Source(msgspec.Struct, frozen=True, gc=False):
    """Who sent a payload, and the key configured for that device, if any."""

    #: Sender address, normalized (``AA:BB:CC:DD:EE:FF``).
    address: str
    #: The device's bindkey (16 bytes) when one is configured.
    key: bytes | None = None


class Measurement(msgspec.Struct, frozen=True, gc=False):
    """One decoded value.

    ``quantity`` names an edgerun quantity and ``value`` is then in its canonical unit;
    fields for which the vocabulary has no quantity keep ``quantity=None`` and their own
    ``unit`` (the CLI shows them, the driver counts and skips them).
    """

    #: The format's own name of the field (``temperature``, ``door``, ``rotational_speed``).
    field: str
    #: The edgerun quantity, or ``None`` when the vocabulary has none for this field.
    quantity: str | None
    value: Value
    #: The unit of ``value``: the canonical unit when ``quantity`` is set.
    unit: str = ""
    #: Instance number when a payload carries the same field more than once (0 = first).
    index: int = 0


class Decoded(msgspec.Struct, frozen=True):
    """The result of decoding one payload."""

    #: Format name (``bthome``, ``ruuvi_v5``, ``atc1441``, ``pvvx`` ...).
    format: str
    measurements: tuple[Measurement, ...] = ()
    #: The sensor's own packet counter, for dedupe (``None`` when the format has none).
    counter: int | None = None
    #: The encryption counter of an encrypted frame; must increase (replay protection).
    crypto_counter: int | None = None
    #: Width of ``crypto_counter``; it wraps at ``2**counter_bits`` (serial arithmetic).
    counter_bits: int = 32
    #: True when the payload was encrypted and authenticated.
    encrypted: bool = False
    #: True for devices that send on events only (BTHome trigger-based flag).
    trigger_based: bool = False
    #: Bytes left unread after an unknown object id (BTHome); counted, not an error.
    skipped: int = 0
    #: Small facts worth shipping with every reading of this packet.
    extra: dict[str, Value] = msgspec.field(default_factory=dict)


class DecodeError(Exception):
    """A payload cannot be decoded; ``reason`` is a short machine-readable code.

    The driver counts each reason (``dropped_<reason>``); the CLI prints the message.
    """

    reason = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class BadLength(DecodeError):
    """The payload is shorter or longer than its format allows."""

    reason = "bad_length"


class UnknownFormat(DecodeError):
    """The payload belongs to a sub-format or version this decoder does not know."""

    reason = "unknown_format"


class AuthenticationFailed(DecodeError):
    """An encrypted payload does not authenticate with the device's key."""

    reason = "auth_failed"


class KeyMissing(DecodeError):
    """An encrypted payload arrived from a device that has no key configured."""

    reason = "key_missing"


class PlaintextRejected(DecodeError):
    """A plaintext payload arrived from a device that has a key (downgrade attempt)."""

    reason = "plaintext_rejected"


class AddressMismatch(DecodeError):
    """The address embedded in the payload is not the sender's."""

    reason = "address_mismatch"


class Replayed(DecodeError):
    """An encrypted payload's counter did not increase."""

    reason = "replayed"


@runtime_checkable
class Decoder(Protocol):
    """What the BLE driver needs from a decoder (built-in or registered by a plugin)."""

    @property
    def name(self) -> str:
        """Format name (allow/deny lists, counters, ``Decoded.format`` by default)."""
        ...

    @property
    def service_uuids(self) -> Collection[str]:
        """Service-data UUIDs this decoder handles (16-bit ``"fcd2"`` or 128-bit)."""
        ...

    @property
    def company_ids(self) -> Collection[int]:
        """Manufacturer-data company ids this decoder handles."""
        ...

    def decode(self, payload: bytes, source: Source) -> Decoded:
        """Decode one payload or raise :class:`DecodeError`."""
        ...


__all__ = [
    "BASE_UUID_SUFFIX",
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
    "address_bytes",
    "normalize_address",
    "normalize_uuid",
    "short_uuid",
]
