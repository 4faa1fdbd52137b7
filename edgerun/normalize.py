"""driver → normalize: turn a driver's :class:`Reading` into a queue :data:`Row`.

The boundary where bad data stops. A reading is rejected (counted as ``invalid`` and logged
at a limited rate) when its quantity is not in the vocabulary, its value has the wrong type,
is NaN or infinite, its unit cannot be converted to the canonical one, or its device id or
timestamp is malformed. Accepted readings get the instance-qualified device id, the canonical
unit, a timestamp (now, when the driver gave none) and the clock-provenance flag, then pass
the registered processors.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Final

from edgerun.clock import ClockState
from edgerun.quantities import QUANTITIES, UnitError, convert
from edgerun.ratelog import RateLimitedLog
from edgerun.readings import Reading, Row

log = logging.getLogger("edgerun.normalize")

#: Longest device id (after qualification) and string value accepted; they travel in
#: every row, and an unbounded string from a broken device would bloat the queue.
MAX_DEVICE_LEN: Final = 160
MAX_STR_LEN: Final = 1024
#: Timestamps must fall between 2000-01-01 and 2100-01-01 (ms); anything else is a unit
#: mistake (seconds or µs) rather than a time.
MIN_TS_MS: Final = 946_684_800_000
MAX_TS_MS: Final = 4_102_444_800_000

_UNITS = {name: q.unit for name, q in QUANTITIES.items()}
_KINDS = {name: q.kind for name, q in QUANTITIES.items()}
#: Canonical unit of each numeric quantity: the hot path's single lookup.
_NUMERIC = {name: q.unit for name, q in QUANTITIES.items() if q.kind == "number"}


class InvalidReading(ValueError):
    """Why a reading was rejected."""


def _check_value(quantity: str, value: Any, unit: str | None) -> tuple[Any, str]:
    kind = _KINDS.get(quantity)
    if kind is None:
        raise InvalidReading(f"unknown quantity {quantity!r}")
    canonical = _UNITS[quantity]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidReading(f"{quantity} needs a number, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidReading(f"{quantity} value {value!r} is not finite")
        if unit is not None and unit != canonical:
            try:
                value = convert(float(value), unit, quantity)
            except UnitError as exc:
                raise InvalidReading(str(exc)) from None
            if not math.isfinite(value):
                raise InvalidReading(f"{quantity} value is not finite after conversion")
        return value, canonical
    if unit is not None and unit != canonical:
        raise InvalidReading(f"{quantity} takes no unit {unit!r}")
    if kind == "bool":
        if isinstance(value, bool):
            return value, canonical
        if isinstance(value, int) and value in (0, 1):
            return bool(value), canonical
        raise InvalidReading(f"{quantity} needs a bool, got {value!r}")
    if not isinstance(value, str):
        raise InvalidReading(f"{quantity} needs a string, got {type(value).__name__}")
    if len(value) > MAX_STR_LEN:
        raise InvalidReading(f"{quantity} string longer than {MAX_STR_LEN}")
    return value, canonical


class Normalizer:
    """Validates and converts readings for one driver instance."""

    __slots__ = ("_bad", "_clock", "_prefix", "_processors", "filtered", "invalid", "name")

    def __init__(self, name: str, clock: ClockState, processors: Sequence[Any] = ()) -> None:
        self.name = name
        self._prefix = name + "/"
        self._clock = clock
        self._processors = tuple(processors)
        self._bad = RateLimitedLog(log)
        self.invalid = 0
        self.filtered = 0

    def row(self, reading: Reading) -> Row | None:
        """The row for ``reading``, or ``None`` (counted) when it is rejected or filtered."""
        try:
            for proc in self._processors:
                result = proc(reading)
                if result is None:
                    self.filtered += 1
                    return None
                reading = result
            device, quantity, value, unit, ts, extra = reading
            canonical = _NUMERIC.get(quantity)
            vtype = type(value)
            # Fast path: a numeric quantity in its canonical unit with a finite value
            # (``value - value`` is non-zero only for NaN and infinities).
            if (
                canonical is None
                or unit is not None
                or (vtype is not float and vtype is not int)
                or (vtype is float and value - value)  # type: ignore[operator]
            ):
                value, canonical = _check_value(quantity, value, unit)
            if type(device) is not str or not device or len(device) > MAX_DEVICE_LEN:
                raise InvalidReading(f"bad device id {device!r}")
            if ts is None:
                ts = time.time_ns() // 1_000_000
            elif type(ts) is not int or not MIN_TS_MS <= ts <= MAX_TS_MS:
                raise InvalidReading(f"bad timestamp {ts!r} (want int ms since the epoch)")
            if extra is not None and (
                not isinstance(extra, dict) or not all(type(k) is str for k in extra)
            ):
                raise InvalidReading("extra must be a map with string keys")
            return (
                ts,
                self._prefix + device,
                quantity,
                value,
                canonical,
                self._clock.synced,
                extra,
            )
        except InvalidReading as exc:
            self.invalid += 1
            self._bad.warning(self.name, "driver %s: reading rejected: %s", self.name, exc)
            return None
        except (TypeError, ValueError) as exc:  # not a Reading at all
            self.invalid += 1
            self._bad.warning(
                self.name, "driver %s: not a reading: %r (%s)", self.name, reading, exc
            )
            return None
