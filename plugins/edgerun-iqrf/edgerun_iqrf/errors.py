"""The typed errors of the IQRF layers.

Every malformed or unknown frame, at any layer, surfaces as :class:`DpaFormatError` with a
short ``reason``; callers never see ``IndexError`` or ``struct.error`` from the codec.
Transport and transaction failures are :class:`TransportError` and :class:`DpaTimeout`.
"""

from __future__ import annotations


class IqrfError(Exception):
    """Base class of every error raised by edgerun_iqrf."""


class DpaFormatError(IqrfError, ValueError):
    """Bytes that do not form a valid frame or payload; ``reason`` says why."""

    def __init__(self, reason: str, data: bytes | None = None) -> None:
        self.reason = reason
        self.data = data
        suffix = f" ({data.hex(' ')})" if data is not None and len(data) <= 80 else ""
        super().__init__(reason + suffix)


class TransportError(IqrfError):
    """The interface to the TR module failed (closed port, device error, refused write)."""


class DpaTimeout(IqrfError, TimeoutError):
    """No confirmation or response arrived in the computed time."""

    def __init__(self, message: str, waited_s: float) -> None:
        self.waited_s = waited_s
        super().__init__(message)


class DpaResponseError(IqrfError):
    """A response arrived with a non-zero response code."""

    def __init__(self, rcode: int, name: str) -> None:
        self.rcode = rcode
        self.name = name
        super().__init__(f"DPA error {rcode:#04x} {name}")
