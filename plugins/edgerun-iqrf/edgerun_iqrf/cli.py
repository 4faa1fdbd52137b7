"""``edgerun iqrf``: decode a DPA frame, probe a coordinator, run the mesh simulator.

``main(argv)`` returns the exit status; the core CLI dispatches ``edgerun iqrf ...`` here,
and ``python -m edgerun_iqrf.cli`` runs it directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from edgerun_iqrf import embed, hdlc, sensor
from edgerun_iqrf.dpa import (
    Confirmation,
    Frame,
    FrcCmd,
    Pnum,
    Request,
    Response,
    SensorCmd,
    decode_frame,
    parse_hex,
)
from edgerun_iqrf.errors import DpaFormatError, IqrfError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgerun iqrf", description="IQRF DPA tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("decode", help="decode one DPA frame given in hex")
    d.add_argument("hex", nargs="+", help="plain, spaced or dotted hex (UART-framed also)")
    d.add_argument("--request", help="the request frame, to decode an FRC or ReadSensors answer")
    d.add_argument("--types", help="sensor types for ReadSensors without types, e.g. 01,80,02")
    pr = sub.add_parser("probe", help="coordinator info, versions and bonded nodes")
    pr.add_argument("--transport", choices=("uart", "cdc", "spi"), required=True)
    pr.add_argument("--port", required=True)
    pr.add_argument("--baudrate", type=int, default=57600)
    s = sub.add_parser("simulate", help="serve a simulated mesh on a pseudo-terminal")
    s.add_argument("--preset", default="conference")
    s.add_argument("--transport", choices=("uart", "cdc"), required=True)
    s.add_argument("--link", required=True, help="path of the symlink to the pty")
    s.add_argument("--speed", type=float, default=1.0, help="time acceleration (1 = real)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--unreachable", default="", help="comma-separated node addresses")
    s.add_argument("--slow", default="", help="addr:ms,... extra response delay")
    s.add_argument("--flaky", default="", help="addr:probability,... of dropping a request")
    s.add_argument(
        "--async-interval",
        type=float,
        default=0.0,
        help="seconds between asynchronous sensor reports (0 = none)",
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "decode":
            return _decode(args)
        if args.cmd == "probe":
            return asyncio.run(_probe(args))
        return asyncio.run(_simulate(args))
    except (DpaFormatError, IqrfError, ValueError) as exc:
        print(f"edgerun iqrf {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# ----------------------------------------------------------------------- decode


def _decode_input(text: str) -> bytes:
    data = parse_hex(text)
    if len(data) >= 2 and data[0] == hdlc.FLAG and data[-1] == hdlc.FLAG:
        return hdlc.decode(data)
    return data


def frame_json(
    frame: Frame, request: Request | None = None, types: list[int] | None = None
) -> dict[str, Any]:
    """The JSON object ``decode`` prints for ``frame``."""
    out: dict[str, Any] = {
        "nadr": frame.nadr,
        "pnum": frame.pnum,
        "pcmd": frame.pcmd | (0x80 if isinstance(frame, Response) else 0),
        "hwpid": frame.hwpid,
        "kind": frame.kind,
        "rcode": None,
        "rcode_name": None,
        "dpa_value": None,
        "pdata": "",
    }
    if isinstance(frame, Request):
        out["pdata"] = frame.pdata.hex()
        return out
    out["rcode"] = 0xFF if isinstance(frame, Confirmation) else frame.rcode
    out["rcode_name"] = (
        "STATUS_CONFIRMATION" if isinstance(frame, Confirmation) else frame.rcode_name
    )
    out["dpa_value"] = frame.dpa_value
    if isinstance(frame, Confirmation):
        out.update(
            hops=frame.hops, timeslot_ms=frame.timeslot_ms, hops_response=frame.hops_response
        )
        return out
    out["pdata"] = frame.pdata.hex()
    if not frame.ok:
        return out
    sensors = _sensors(frame, request, types)
    if sensors is not None:
        out["sensors"] = sensors
    return out


def _sensors(
    resp: Response, request: Request | None, types: list[int] | None
) -> list[dict[str, Any]] | None:
    if resp.pnum == Pnum.SENSOR and resp.request_pcmd == SensorCmd.READ_SENSORS_WITH_TYPES:
        indexes = _request_indexes(request)
        return [r.as_json() for r in sensor.decode_with_types(resp.pdata, indexes)]
    if resp.pnum == Pnum.SENSOR and resp.request_pcmd == SensorCmd.READ_SENSORS and types:
        indexes = _request_indexes(request)
        return [r.as_json() for r in sensor.decode_without_types(resp.pdata, types, indexes)]
    if (
        resp.pnum == Pnum.FRC
        and resp.request_pcmd in (FrcCmd.SEND, FrcCmd.SEND_SELECTIVE)
        and request is not None
        and request.pnum == Pnum.FRC
        and request.pcmd == resp.request_pcmd
        and request.pdata
    ):
        command = request.pdata[0]
        user = request.pdata[1:] if request.pcmd == FrcCmd.SEND else request.pdata[31:]
        if len(user) < 3 or user[0] != Pnum.SENSOR:
            return None
        type_id, index = user[1], user[2] & 0x1F
        result = embed.decode_frc_send(resp.pdata)
        if request.pcmd == FrcCmd.SEND_SELECTIVE:
            nodes = embed.bitmap_to_nodes(request.pdata[1:31])
        else:
            top = embed.frc_max_node(command, with_extra=False)
            nodes = list(range(1, top + 1))
        top = embed.frc_max_node(command, with_extra=False)
        nodes = [n for n in nodes if 1 <= n <= top]
        out = []
        for node, raw in embed.frc_values(command, result.data, nodes).items():
            v = sensor.decode_frc_value(type_id, command, node, raw)
            st = sensor.sensor_type(type_id)
            out.append(
                {
                    "node": node,
                    "index": index,
                    "type": type_id,
                    "quantity": st.quantity,
                    "unit": st.unit,
                    "value": v.value,
                    "frc_status": v.status.name.lower() if v.status is not None else "ok",
                }
            )
        return out
    return None


def _request_indexes(request: Request | None) -> list[int] | None:
    if request is None or request.pnum != Pnum.SENSOR:
        return None
    if not request.pdata:
        return [0]
    if len(request.pdata) < 4:
        return None
    bitmap = int.from_bytes(request.pdata[:4], "little")
    if bitmap == 0xFFFFFFFF:
        return None
    return [i for i in range(32) if bitmap >> i & 1]


def _decode(args: argparse.Namespace) -> int:
    data = _decode_input(" ".join(args.hex))
    frame = decode_frame(data)
    request = None
    if args.request:
        req = decode_frame(_decode_input(args.request))
        if not isinstance(req, Request):
            raise DpaFormatError("--request is not a request frame")
        request = req
    types = None
    if args.types:
        try:
            types = [int(t, 16) for t in args.types.split(",") if t]
        except ValueError:
            raise DpaFormatError(f"--types must be hex type ids, not {args.types!r}") from None
    print(json.dumps(frame_json(frame, request, types), ensure_ascii=False))
    return 0


# ------------------------------------------------------------------------ probe


async def probe_info(transport: Any) -> dict[str, Any]:
    """Coordinator address info, versions, bonded and discovered nodes over an open transport."""
    from edgerun_iqrf.client import DpaClient
    from edgerun_iqrf.engine import DpaEngine

    info: dict[str, Any] = {"transport": transport.name}
    async with DpaEngine(transport) as engine:
        client = DpaClient(engine)
        module = await transport.module_info()
        if module is not None:
            info["module"] = {
                "mid": f"{module.mid:08X}",
                "os": module.os_version_str,
                "os_build": f"{module.os_build:04X}",
                "tr": module.series,
                "mcu": module.mcu,
            }
        addr = await client.addr_info()
        os_info = await client.os_read(0)
        enum = os_info.enumeration or await client.enumerate_peripherals(0)
        info["coordinator"] = {
            "dev_nr": addr.dev_nr,
            "did": addr.did,
            "mid": f"{os_info.mid:08X}",
            "os_version": os_info.os_version_str,
            "os_build": f"{os_info.os_build:04X}",
            "dpa_version": enum.dpa_version_str,
            "rf_mode": "STD" if enum.std_mode else "LP",
        }
        info["bonded"] = await client.bonded_nodes()
        info["discovered"] = await client.discovered_nodes()
    return info


async def _probe(args: argparse.Namespace) -> int:
    from edgerun_iqrf.transport import open_transport

    transport = open_transport(args.transport, args.port, baudrate=args.baudrate)
    await transport.open()
    try:
        info = await probe_info(transport)
    finally:
        await transport.close()
    info["port"] = args.port
    print(json.dumps(info))
    return 0


# --------------------------------------------------------------------- simulate


def _pairs(text: str, cast: type) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for item in filter(None, text.split(",")):
        addr, _, value = item.partition(":")
        out[int(addr)] = cast(value)
    return out


async def _simulate(args: argparse.Namespace) -> int:
    from edgerun_iqrf.sim.mesh import MeshSimulator
    from edgerun_iqrf.sim.presets import PRESETS
    from edgerun_iqrf.sim.pty_link import PtyLink

    if args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r} ({', '.join(sorted(PRESETS))})")
    if args.speed <= 0:
        raise ValueError("--speed must be positive")
    nodes = PRESETS[args.preset](args.seed)
    sim = MeshSimulator(nodes, speed=args.speed, seed=args.seed)
    for addr in (int(a) for a in filter(None, args.unreachable.split(","))):
        sim.nodes[addr].unreachable = True
    for addr, ms in _pairs(args.slow, float).items():
        sim.nodes[addr].slow_ms = ms
    for addr, p in _pairs(args.flaky, float).items():
        sim.nodes[addr].flaky = p
    link = PtyLink(sim, args.transport, args.link)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await link.start()
    print(
        f"simulating {args.preset} ({len(nodes)} nodes) over {args.transport} at {args.link}",
        file=sys.stderr,
        flush=True,
    )
    reporter = None
    if args.async_interval > 0:
        reporter = asyncio.create_task(_async_reports(sim, args.async_interval))
    try:
        await stop.wait()
    finally:
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        await link.stop()
    return 0


async def _async_reports(sim: Any, interval: float) -> None:
    sensors = [a for a, n in sim.nodes.items() if n.sensors]
    i = 0
    while sensors:
        await asyncio.sleep(interval)
        sim.send_async_sensors(sensors[i % len(sensors)])
        i += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
