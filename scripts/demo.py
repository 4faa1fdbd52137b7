"""The edgerun demo: a simulated IQRF conference mesh all the way to a CO2 chart.

What runs, each as its own process on loopback, all stopped on Ctrl-C (or after
``--duration``), leaving nothing behind:

1. mosquitto on a free port (the "datacenter" broker);
2. carbon-cache with its own storage directory (Graphite's database);
3. ``edgerun iqrf simulate --preset conference``: a coordinator, 20 sensor nodes
   (temperature, humidity, CO2) and 20 routers on 3 floors, served over the real IQRF UART
   framing on a pseudo-terminal;
4. ``edgerun run``: the gateway, reading the mesh through the real UART transport, queueing
   durably and shipping batches to mosquitto;
5. ``edgerun bridge``: landing the batches in carbon;
6. ``edgerun tail``: printing the readings as they arrive upstream.

At the end the CO2 per room is drawn from the stored series into ``co2.png``.

    bash scripts/demo                      # until Ctrl-C
    bash scripts/demo --duration 120       # bounded, non-interactive (used by the tests)

The demo reuses the process helpers of the test suite (tests/support, tests/bridge), which
start and stop these servers the same way in every test.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.bridge.servers import Carbon  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402
from tests.support.procs import stop_process  # noqa: E402

#: How often the gateway polls the mesh in the demo; short, so the chart fills quickly.
POLL_INTERVAL = "10s"
#: How long processes get to stop after SIGTERM before they are killed.
STOP_TIMEOUT = 15.0


def edgerun(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgerun.cli.main", *args]


def spawn(argv: Sequence[str], log: Path, **kw: object) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    try:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=kw.pop("stdout", out),
            stderr=out,
            cwd=REPO,
            start_new_session=True,
            **kw,
        )
    finally:
        out.close()


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout:.0f}s")
        time.sleep(0.05)


def gateway_config(work: Path, link: Path, broker_url: str) -> Path:
    cfg = work / "gateway.toml"
    cfg.write_text(
        f"""
[gateway]
id = "conference-gw"
data_dir = "{work / "gateway-data"}"

[uplink]
url = "{broker_url}"
flush_interval = "100ms"

[http]
listen = "127.0.0.1:0"

[[drivers]]
type = "iqrf"
name = "mesh"
transport = "uart"
port = "{link}"
poll_interval = "{POLL_INTERVAL}"
""",
        encoding="utf-8",
    )
    return cfg


def bridge_config(work: Path, broker_url: str, carbon: Carbon) -> Path:
    cfg = work / "bridge.toml"
    cfg.write_text(
        f"""
[mqtt]
url = "{broker_url}"
client_id = "demo-bridge"

[http]
enabled = false

[dedupe]
path = "{work / "bridge-dedupe.sqlite"}"

[dead_letters]
file = "{work / "bridge-dead-letters.jsonl"}"

[[sinks]]
type = "graphite"
host = "127.0.0.1"
port = {carbon.line_port}
""",
        encoding="utf-8",
    )
    return cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: Ctrl-C)")
    ap.add_argument("--workdir", type=Path, default=REPO / "demo-data")
    ap.add_argument(
        "--tail-json", type=Path, help="also write the tailed readings here (JSON lines)"
    )
    args = ap.parse_args(argv)

    work = args.workdir / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    broker = Mosquitto(work / "mosquitto", persistence=True)
    carbon = Carbon(work / "carbon", retention="10s:1d")
    interrupted = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"edgerun demo: working in {work}", flush=True)
    try:
        broker.start()
        carbon.start()
        print(f"  broker  {broker.url}   carbon 127.0.0.1:{carbon.line_port}", flush=True)
        link = work / "ttyIQRF"
        sim = spawn(
            edgerun(
                "iqrf",
                "simulate",
                "--preset",
                "conference",
                "--transport",
                "uart",
                "--link",
                str(link),
            ),
            logs / "simulator.log",
        )
        procs.append(sim)
        wait_for(link, sim, 30, "the IQRF simulator")
        print(f"  simulated conference mesh on {link} (20 sensor nodes, 20 routers)", flush=True)
        gw = spawn(
            edgerun("run", "-c", str(gateway_config(work, link, broker.url))),
            logs / "gateway.log",
        )
        procs.append(gw)
        procs.append(
            spawn(
                edgerun("bridge", "-c", str(bridge_config(work, broker.url, carbon))),
                logs / "bridge.log",
            )
        )
        tail_argv = edgerun("tail", "--url", broker.url, "--no-status")
        tail_out = None
        if args.tail_json:
            tail_argv.append("--json")
            tail_out = args.tail_json.open("wb")
        procs.append(
            spawn(tail_argv, logs / "tail.log", stdout=tail_out if tail_out is not None else None)
        )
        print("  gateway, bridge and tail running; readings follow (Ctrl-C to stop)\n", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        while not interrupted:
            if deadline is not None and time.monotonic() >= deadline:
                break
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(
                        f"{p.args[3] if len(p.args) > 3 else p.args} exited "
                        f"with {p.returncode}; see {logs}"
                    )
            time.sleep(0.2)
    except (RuntimeError, TimeoutError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        for p in reversed(procs):
            stop_process(p, signal.SIGTERM, STOP_TIMEOUT)
        carbon.stop()
        broker.close()
    png = work / "co2.png"
    from edgerun.bridge.plot import main as plot

    if plot(["--whisper", str(carbon.whisper), "--from=-1d", "-o", str(png)]) == 0:
        print(f"CO2 per room: {png}")
    summary = {"workdir": str(work), "png": str(png) if png.exists() else None}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
