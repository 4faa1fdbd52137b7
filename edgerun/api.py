"""The public API for driver and plugin authors: everything a plugin imports from edgerun.

A driver is a class with a config model and one async :meth:`Driver.run`::

    from edgerun.api import Driver, DriverConfig, DriverContext, Reading, hookimpl

    class ThermoConfig(DriverConfig):
        port: str
        interval: float = 10.0

    class Thermo(Driver[ThermoConfig]):
        config_type = ThermoConfig

        async def run(self, ctx: DriverContext) -> None:
            dev = await open_device(self.config.port)   # fail here -> restart policy applies
            ctx.started()                               # the supervisor waits for this
            while True:
                await ctx.emit(Reading("probe-1", "temperature", dev.read()))
                await ctx.sleep(self.config.interval)

    @hookimpl
    def edgerun_register_drivers(register):
        register("thermo", Thermo)

The core validates the driver's table against ``config_type`` before the driver is built,
restarts ``run`` according to the instance's restart policy when it raises, and cancels it
at shutdown. docs/writing-a-driver.md is the full walk-through.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pluggy
from msgspec import field

from edgerun.config.base import ByteSize, Duration, Secret, Strict
from edgerun.hookspecs import PROJECT
from edgerun.quantities import QUANTITIES, UnitError, canonical_unit, convert
from edgerun.readings import Reading, Value

#: Marks a plugin's hook implementations: ``@hookimpl def edgerun_register_drivers(...)``.
hookimpl = pluggy.HookimplMarker(PROJECT)

T = TypeVar("T")


class DriverConfig(Strict):
    """Base class of a driver's config model (a strict msgspec struct).

    Declare fields with type hints and defaults (``field(default_factory=...)`` for lists and
    maps); unknown keys are rejected, types are
    checked and each problem is reported with its key path. Use :class:`Secret` for
    passwords and keys, :class:`Duration` and :class:`ByteSize` for human-friendly values.
    """


C = TypeVar("C", bound=DriverConfig)


class DriverContext(Protocol):
    """What the core gives a running driver. Created per start of :meth:`Driver.run`."""

    #: The driver instance name (``[[drivers]] name``); device ids are prefixed with it.
    name: str
    #: A directory of this instance's own under the gateway's data dir, for caches.
    data_dir: Path
    #: A logger named ``edgerun.driver.<name>``.
    log: logging.Logger

    def started(self) -> None:
        """Signal that the device is open and readings will follow.

        The supervisor starts the next component only after this (or after the start
        timeout, which counts as a failure of this instance).
        """

    async def emit(self, reading: Reading) -> None:
        """Hand one reading to the core.

        Returns at once in the normal case; waits (backpressure) while the queue cannot
        take more. An invalid reading (unknown quantity, NaN, wrong value type, unknown
        unit) is dropped and counted, never raised: one bad sensor does not stop a driver.
        """

    async def emit_many(self, readings: Iterable[Reading]) -> None:
        """Hand several readings to the core at once; cheaper per reading than emit."""

    async def run_sync(self, func: Callable[..., T], *args: Any, bus: str | None = None) -> T:
        """Run a blocking call in a worker thread.

        Calls naming the same ``bus`` (e.g. ``"/dev/spidev0.0"``) run one at a time; calls
        without a bus share a small default limiter.
        """

    async def sleep(self, seconds: float) -> None:
        """Sleep; use this rather than anyio/asyncio sleep so tests can speed time up."""

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a driver-specific counter shown in status and metrics."""

    def set_state(self, state: str, detail: str = "") -> None:
        """Report a driver-specific state (``"adapter off"``) shown in status and metrics."""

    def now_ms(self) -> int:
        """The wall clock in ms since the epoch, UTC."""


class CommandError(Exception):
    """A command cannot be carried out; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        super().__init__(message or reason)


class Driver(abc.ABC, Generic[C]):
    """Base class of every driver.

    Subclasses set :attr:`config_type` and implement :meth:`run`. The core constructs one
    object per configured instance and may call :meth:`run` several times (restarts).
    """

    #: The driver's config model.
    config_type: ClassVar[type[DriverConfig]] = DriverConfig
    #: The ``pip install`` extra that brings the driver's hardware libraries, if any.
    extra: ClassVar[str | None] = None
    #: Modules the driver needs at run time; ``edgerun plugins`` reports whether they import.
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, config: C) -> None:
        self.name = name
        self.config = config

    @abc.abstractmethod
    async def run(self, ctx: DriverContext) -> None:
        """Open the device, call ``ctx.started()``, emit readings until cancelled.

        Raise to report a failure: the restart policy decides what happens next. Close the
        device in ``finally`` (cancellation arrives as an exception at an await).
        """

    async def command(self, target: str, action: str, args: Mapping[str, Any]) -> Any:
        """Carry out a command from upstream (see docs/commands.md).

        ``target`` names something the driver owns (an output, a node), ``action`` what to
        do. Return a JSON-compatible result or ``None``; raise :class:`CommandError` to
        refuse. The default refuses everything.
        """
        raise CommandError("unsupported", f"driver {self.name!r} accepts no commands")


#: A reading processor (see the ``edgerun_register_processors`` hook).
Processor = Callable[[Reading], Reading | None]

AsyncCallable = Callable[..., Awaitable[Any]]

__all__ = [
    "QUANTITIES",
    "ByteSize",
    "CommandError",
    "Driver",
    "DriverConfig",
    "DriverContext",
    "Duration",
    "Processor",
    "Reading",
    "Secret",
    "UnitError",
    "Value",
    "canonical_unit",
    "convert",
    "field",
    "hookimpl",
]
