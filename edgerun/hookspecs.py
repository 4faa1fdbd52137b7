"""The plugin contract: every hook edgerun calls, grouped by what it registers.

Hooks only *register* things; pluggy is synchronous, so long-running work lives in the
objects they register (drivers, sinks), which the supervisor owns and runs. Each hook
receives a ``register`` callable and returns nothing. A plugin implements any subset of
these with :data:`edgerun.api.hookimpl` and is found through the ``edgerun`` entry-point
group (see docs/writing-a-driver.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from edgerun.api import Driver, Processor

PROJECT = "edgerun"

hookspec = pluggy.HookspecMarker(PROJECT)

# --------------------------------------------------------------------------- drivers


@hookspec
def edgerun_register_drivers(register: Callable[[str, type[Driver[Any]] | str], None]) -> None:
    """Register driver classes.

    Called once when the plugin manager loads plugins. Call ``register(type_name, ref)``
    for each driver type the plugin provides; ``type_name`` is what ``[[drivers]] type``
    names in the config. ``ref`` is the class or, preferably, an import string
    ``"package.module:Class"``: the module is then imported only on gateways that configure
    the type, which keeps the memory of every other gateway low. The first registration of
    a type name wins; a second one is reported.

    :param register: ``register(type_name, driver_class_or_import_string)``.
    """


# ------------------------------------------------------------------------- processing


@hookspec
def edgerun_register_processors(register: Callable[[str, Processor], None]) -> None:
    """Register reading processors.

    A processor is a callable ``(reading) -> reading | None`` applied to every reading
    after validation and before the queue, in registration order; ``None`` drops the
    reading (counted as ``filtered``). Processors run on the hot path: keep them cheap.

    :param register: ``register(name, processor)``.
    """


# ------------------------------------------------------------------------------- CLI


@hookspec
def edgerun_register_commands(
    register: Callable[[str, str, Callable[[list[str]], int] | str], None],
) -> None:
    """Register ``edgerun`` sub-commands.

    ``register(name, help, main)`` adds ``edgerun NAME ...``; ``main`` (a callable or an
    import string ``"package.module:main"``, imported when the command runs) receives the
    remaining arguments and returns the exit status. Used by plugins that ship tools
    (``edgerun iqrf decode``, ``edgerun ble decode``).

    :param register: ``register(name, one_line_help, main_or_import_string)``.
    """


# ---------------------------------------------------------------------- bridge sinks


@hookspec
def edgerun_register_sinks(register: Callable[[str, type[Any] | str], None]) -> None:
    """Register datacenter sinks for ``edgerun bridge``.

    ``register(type_name, sink_class_or_import_string)``; see docs/bridge.md for the sink
    interface.

    :param register: ``register(type_name, sink_class_or_import_string)``.
    """


# ----------------------------------------------------------------------- BLE decoders


@hookspec
def edgerun_register_ble_decoders(register: Callable[[Any], None]) -> None:
    """Register decoders for vendor BLE advertisement formats.

    ``register(decoder)`` adds a decoder object to the BLE driver's dispatch; see
    plugins/edgerun-ble/README.md for the decoder interface. Called only when a BLE driver
    is configured.

    :param register: ``register(decoder)``.
    """
