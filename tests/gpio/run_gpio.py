"""Runs one GPIO driver in its own process, for the crash test.

``python -m tests.gpio.run_gpio CONFIG.json DATA_DIR`` starts the driver with the options
in CONFIG.json, prints ``{"event": "started", "counters": {...}}`` on stdout once it has
started, then reads commands as JSON lines on stdin (``{"target", "action", "args"}``) and
prints each result. The test kills it with SIGKILL, as a crash or power cut would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
from edgerun_gpio.driver import GpioDriver

from edgerun.api import CommandError
from edgerun.testing import RecordingContext, make_driver


def say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(options: dict[str, object], data_dir: str) -> None:
    driver = make_driver(GpioDriver, "io", **options)
    ctx = RecordingContext("io", Path(data_dir))
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run, ctx)
        await ctx.started_event.wait()
        say({"event": "started", "counters": ctx.counters})
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            cmd = json.loads(line)
            try:
                value = await driver.command(cmd["target"], cmd["action"], cmd.get("args", {}))
                say({"event": "result", "ok": True, "value": value})
            except CommandError as exc:
                say({"event": "result", "ok": False, "reason": exc.reason})
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main, json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
