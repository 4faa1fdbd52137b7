"""The normalized reading: what drivers emit and what the queue stores.

A driver builds :class:`Reading` values with the device id it knows locally (``node-7``);
the normalizer qualifies the id with the driver instance (``mesh/node-7``), fills in the
canonical unit and the timestamp, checks the value and turns it into a :data:`Row`, the
compact tuple the queue stores and the uplink ships (see docs/payload.md for its columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeAlias

Value: TypeAlias = float | int | bool | str


class Reading(NamedTuple):
    """One measurement as a driver reports it.

    :param device: the device id, unique within the driver instance (``node-7``,
        ``AA:BB:CC:DD:EE:FF``). The core prefixes the instance name.
    :param quantity: a name from the vocabulary in docs/quantities.md.
    :param value: a number, bool or str, as the quantity's kind allows.
    :param unit: the unit ``value`` is in; ``None`` means the canonical unit. Other units are
        converted when a conversion is known and rejected otherwise.
    :param ts_ms: when it was measured, milliseconds since the Unix epoch (UTC); ``None``
        means now.
    :param extra: optional small map of further fields (sensor index, RSSI, ...), shipped as
        the ``x`` column.
    """

    device: str
    quantity: str
    value: Value
    unit: str | None = None
    ts_ms: int | None = None
    extra: Mapping[str, Any] | None = None


#: A normalized reading, in the order of the payload columns after ``id``:
#: ``(ts_ms, device, quantity, value, unit, clock_synced, extra)``.
Row: TypeAlias = tuple[int, str, str, Value, str, bool, dict[str, Any] | None]

#: Column names of a stored row, ``id`` first (assigned by the queue).
COLUMNS: tuple[str, ...] = ("id", "ts", "dev", "q", "val", "unit", "sync", "x")

__all__ = ["COLUMNS", "Reading", "Row", "Value"]
