"""edgerun entry point of the IQRF plugin: registers the ``iqrf`` driver and CLI command.

Only registration happens here; the driver imports its transports when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgerun.api import hookimpl


@hookimpl
def edgerun_register_commands(
    register: Callable[[str, str, Any], None],
) -> None:
    register("iqrf", "IQRF DPA tools: decode, probe, simulate", "edgerun_iqrf.cli:main")


@hookimpl
def edgerun_register_drivers(register: Callable[[str, Any], None]) -> None:
    register("iqrf", "edgerun_iqrf.driver:IqrfDriver")
