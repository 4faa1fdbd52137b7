"""``edgerun tail`` as a real subprocess, fed by uplinks in every payload form."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import anyio
import pytest

from edgerun.config.base import convert
from edgerun.uplink.config import UplinkConfig
from edgerun.uplink.tail import main
from edgerun.uplink.uplink import Uplink
from tests.support.mosquitto import Mosquitto
from tests.uplink.helpers import gateway, memory_queue, row

pytestmark = pytest.mark.anyio

FORMS: list[dict[str, Any]] = [
    {"encoding": "msgpack", "compression": "none"},
    {"encoding": "json", "compression": "none"},
    {"encoding": "msgpack", "compression": "zlib"},
    {"encoding": "json", "compression": "zlib"},
]
PER_GATEWAY = 10


def start_tail(broker: Mosquitto, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgerun.uplink.tail", "--url", broker.url, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_connected(proc: subprocess.Popen[str]) -> None:
    assert proc.stderr is not None
    with anyio.fail_after(15):
        line = await anyio.to_thread.run_sync(proc.stderr.readline)
    assert line.startswith("connected to"), line


async def tail_output(broker: Mosquitto, *args: str) -> tuple[int, str, str]:
    """Run ``edgerun tail ARGS`` while every payload form is published; (rc, stdout, stderr)."""
    proc = start_tail(broker, *args)
    try:
        await wait_connected(proc)
        await publish_all_forms(broker)
        out, err = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=15))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


async def publish_all_forms(broker: Mosquitto) -> None:
    async with anyio.create_task_group() as tg:
        uplinks = []
        for n, form in enumerate(FORMS):
            q = await memory_queue()
            cfg = convert({"url": broker.url, **form}, UplinkConfig)
            up = Uplink(cfg, gateway(f"gw-{n}"), q, dict)
            await tg.start(up.run)
            for i in range(PER_GATEWAY):
                q.offer(row(i))
            uplinks.append(up)
        with anyio.fail_after(15):
            while sum(u.stats().readings_published for u in uplinks) < PER_GATEWAY * len(FORMS):
                await anyio.sleep(0.02)  # polling the uplinks' counters with a deadline
        tg.cancel_scope.cancel()


async def test_json_lines_from_every_form(broker: Mosquitto) -> None:
    total = PER_GATEWAY * len(FORMS)
    rc, out, err = await tail_output(broker, "--json", "--count", str(total), "--no-status")
    assert rc == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == total
    by_gw: dict[str, list[dict[str, Any]]] = {}
    for rec in lines:
        by_gw.setdefault(rec["gw"], []).append(rec)
    assert sorted(by_gw) == [f"gw-{n}" for n in range(len(FORMS))]
    for recs in by_gw.values():
        assert len(recs) == PER_GATEWAY
        assert {r["q"] for r in recs} == {"temperature"}
        assert recs[0]["unit"] == "°C"
        assert recs[0]["hist"] is False
        assert [r["id"] for r in recs] == sorted(r["id"] for r in recs)


async def test_table_shows_readings_and_status(broker: Mosquitto) -> None:
    rc, out, err = await tail_output(broker, "--count", str(PER_GATEWAY * len(FORMS)))
    assert rc == 0, err
    lines = out.splitlines()
    assert any(line.startswith("time (UTC)") for line in lines)
    rows = [ln for ln in lines if "mesh/node-" in ln]
    assert len(rows) == PER_GATEWAY * len(FORMS)
    assert all("°C" in ln and "temperature" in ln for ln in rows)
    assert any(ln.startswith("-- edgerun/gw-0/status: online") for ln in lines)


async def test_undecodable_messages_are_skipped_not_fatal(broker: Mosquitto) -> None:
    proc = start_tail(broker, "--json", "--count", "3", "--no-status")
    try:
        await wait_connected(proc)
        await anyio.run_process(
            ["mosquitto_pub", "-p", str(broker.port), "-t", "edgerun/x/data", "-m", "garbage"]
        )
        q = await memory_queue()
        async with anyio.create_task_group() as tg:
            up = Uplink(convert({"url": broker.url}, UplinkConfig), gateway("gw-ok"), q, dict)
            await tg.start(up.run)
            for i in range(3):
                q.offer(row(i))
            out, err = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=15))
            tg.cancel_scope.cancel()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "edgerun/x/data: skipped" in err
    assert len(out.splitlines()) == 3


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://nope"]) == 2
    assert "scheme" in capsys.readouterr().err
    assert main(["--password-env", "EDGERUN_TEST_UNSET_VARIABLE"]) == 2
