"""``edgerun bridge -c FILE``: run the datacenter bridge until SIGTERM/SIGINT.

``--check`` validates the file (and that every sink type is installed) and exits.
``--retire`` drains this replica's broker session, ends it and exits (see
:meth:`Bridge.retire`). Exit status: 0 after a clean stop, 2 for an invalid config, 1 for
anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from edgerun.bridge.config import load_config
from edgerun.bridge.consumer import Bridge
from edgerun.bridge.metrics import metrics
from edgerun.bridge.service import build_bridge, build_sinks
from edgerun.config.base import ConfigError
from edgerun.exitcodes import EXIT_CONFIG, EXIT_FATAL
from edgerun.logs import setup_logging

log = logging.getLogger("edgerun.bridge")


async def _serve(bridge: Bridge) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main.cancel)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(bridge.run())
        if bridge.config.http.active:
            tg.create_task(_ops(bridge))


async def _ops(bridge: Bridge) -> None:
    try:
        from edgerun.ops.http import OpsServer
    except ImportError:  # the shared endpoint is optional
        log.warning("edgerun.ops.http is not available; no health/metrics endpoint")
        return
    names = [s.name for s in bridge.sinks]

    def health() -> tuple[bool, dict[str, Any]]:
        return True, {"connected": bridge.connected.is_set()}

    server = OpsServer(
        bridge.config.http,
        health=health,
        ready=bridge.ready,
        metrics=lambda: metrics(bridge.stats(), names),
    )
    await server.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edgerun bridge", description="MQTT batches from gateways into Graphite/InfluxDB."
    )
    parser.add_argument("-c", "--config", required=True, help="bridge config file (TOML)")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument(
        "--retire",
        action="store_true",
        help="drain this replica's broker session, end it and exit (scaling down for good)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text for people, json lines for collectors",
    )
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        cfg = load_config(args.config)
        if args.check:
            build_sinks(cfg)
            print(f"{args.config}: OK ({len(cfg.sinks)} sinks)")
            return 0
        bridge = build_bridge(cfg)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"{args.config}: {p}", file=sys.stderr)
        return EXIT_CONFIG
    if args.retire:
        try:
            n = asyncio.run(bridge.retire())
        except Exception as exc:  # report it and let the operator retry
            print(f"retire failed: {exc}", file=sys.stderr)
            return EXIT_FATAL
        print(f"{cfg.mqtt.client_id}: session drained ({n} messages) and ended")
        return 0
    try:
        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(_serve(bridge))
    except Exception as exc:  # e.g. the metrics port is taken: say so, exit 1
        for err in getattr(exc, "exceptions", [exc]):
            log.error("bridge stopped: %s: %s", type(err).__name__, err)
        return EXIT_FATAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
