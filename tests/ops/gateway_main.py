"""``edgerun run`` with :class:`edgerun.ops.gateway.GatewayOps` wired in as its docstring shows.

The end-to-end tests start this when the supervisor does not wire the ops pieces itself
yet; once it does, they start the real ``edgerun run``. Usage: ``python gateway_main.py CONFIG``.
"""

from __future__ import annotations

import sys

import anyio

from edgerun.cli.main import _load
from edgerun.logs import setup_logging
from edgerun.ops.gateway import GatewayOps
from edgerun.supervisor import Supervisor


def main(path: str) -> int:
    config, registry = _load(path)
    setup_logging("info", "json")
    sup = Supervisor(config, registry)
    ops = GatewayOps(sup)
    sup.listeners.append(ops.on_state)

    async def run() -> int:
        async with anyio.create_task_group() as tg:
            await tg.start(ops.run)
            code = await sup.run()
            tg.cancel_scope.cancel()
        return code

    return anyio.run(run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
