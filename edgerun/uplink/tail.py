"""``edgerun tail``: print readings arriving at a broker, live.

For operators checking what a gateway sends and for demos. It subscribes to the batch and
status topics, decodes every form of payload v1 (msgpack, JSON, zlib-compressed), and
prints a readable table by default or one JSON object per line with ``--json`` (for ``jq``).
A message that does not decode is reported on stderr and skipped; the tool keeps running
and reconnects (with jittered backoff) when the broker goes away.

Exit codes: 0 after ``--count`` readings or on Ctrl-C, 2 for bad arguments, 1 when the
broker refuses the credentials or the TLS material cannot be loaded (retrying cannot help).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

import anyio

from edgerun.config.base import Secret
from edgerun.payload import Payload, PayloadError, decode
from edgerun.uplink.backoff import Backoff
from edgerun.uplink.config import UplinkConfig, parse_broker_url
from edgerun.uplink.endpoints import Endpoint
from edgerun.uplink.mqtt import ConnectFailed, ConnectionLost, ConnectParams, connect
from edgerun.uplink.tls import TlsSetupError, build_context

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

_TABLE_HEAD = (
    f"{'time (UTC)':<23}  {'gateway':<14} {'device':<22} {'quantity':<18} "
    f"{'value':>12} {'unit':<6} {'id':>10}  flags"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgerun tail",
        description="Subscribe to a broker and print decoded readings as they arrive.",
    )
    p.add_argument(
        "--url", default="mqtt://127.0.0.1:1883", help="broker URL (mqtt:// or mqtts://)"
    )
    p.add_argument("--prefix", default="edgerun", help="topic prefix (default: edgerun)")
    p.add_argument("--gateway", default="+", help="only this gateway id (default: all)")
    p.add_argument("--topic", action="append", help="subscribe to this filter instead (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per reading")
    p.add_argument("--no-status", action="store_true", help="do not show status messages")
    p.add_argument("--heartbeats", action="store_true", help="also show heartbeats")
    p.add_argument("--count", type=int, default=0, help="exit after this many readings")
    p.add_argument("--username")
    p.add_argument("--password-env", metavar="VAR", help="read the password from this variable")
    p.add_argument("--password-file", metavar="PATH", help="read the password from this file")
    p.add_argument("--ca-file")
    p.add_argument("--cert-file")
    p.add_argument("--key-file")
    p.add_argument("--insecure", action="store_true", help="skip TLS verification (labs only)")
    p.add_argument("--mqtt-version", choices=["5", "3.1.1"], default="5")
    return p


class Printer:
    """Formats decoded messages as a table or JSON lines."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.readings = 0
        self._header_done = False

    def batch(self, topic: str, p: Payload) -> int:
        n = 0
        for rec in p.records():
            n += 1
            if self.as_json:
                doc: dict[str, Any] = {"gw": p.gw}
                if p.tenant is not None:
                    doc["tenant"] = p.tenant
                doc.update(rec)
                doc["hist"] = p.hist
                self.out.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
            else:
                self._row(p, rec)
        if p.bad_rows:
            print(f"{topic}: {p.bad_rows} malformed rows skipped", file=sys.stderr)
        self.readings += n
        self.out.flush()
        return n

    def _row(self, p: Payload, rec: dict[str, Any]) -> None:
        if not self._header_done:
            self.out.write(_TABLE_HEAD + "\n")
            self._header_done = True
        ts = rec.get("ts")
        when = (
            datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
            if isinstance(ts, int)
            else "?"
        )
        val = rec.get("val")
        text = f"{val:.6g}" if isinstance(val, float) else str(val)
        flags = []
        if p.hist:
            flags.append("hist")
        if rec.get("sync") is False:
            flags.append("unsynced")
        if rec.get("x"):
            flags.append(json.dumps(rec["x"], ensure_ascii=False, default=str))
        self.out.write(
            f"{when:<23}  {p.gw[:14]:<14} {str(rec.get('dev'))[:22]:<22} "
            f"{str(rec.get('q'))[:18]:<18} {text[:12]:>12} {str(rec.get('unit'))[:6]:<6} "
            f"{rec.get('id')!s:>10}  {' '.join(flags)}\n"
        )

    def other(self, topic: str, kind: str, payload: bytes) -> None:
        try:
            doc = json.loads(payload) if payload else {}
        except ValueError:
            doc = {"raw": payload[:200].decode(errors="replace")}
        if self.as_json:
            self.out.write(json.dumps({"topic": topic, "type": kind, **doc}, default=str) + "\n")
        else:
            state = doc.get("state", "")
            detail = ""
            if kind == "heartbeat":
                detail = f" queue={doc.get('queue_depth')} oldest={doc.get('oldest_age_s')}s"
            elif doc.get("reason"):
                detail = f" ({doc['reason']})"
            self.out.write(f"-- {topic}: {state}{detail}\n")
        self.out.flush()


def _password(args: argparse.Namespace) -> str | None:
    if args.password_env:
        return Secret.resolve({"env": args.password_env}).value
    if args.password_file:
        return Secret.resolve({"file": args.password_file}).value
    return None


async def _tail(args: argparse.Namespace, endpoint: Endpoint, printer: Printer) -> int:
    filters = args.topic or [f"{args.prefix}/{args.gateway}/data"]
    if not args.topic:
        if not args.no_status:
            filters.append(f"{args.prefix}/{args.gateway}/status")
        if args.heartbeats:
            filters.append(f"{args.prefix}/{args.gateway}/heartbeat")
    tls = None
    if endpoint.tls:
        cfg = UplinkConfig(
            url=str(endpoint),
            ca_file=args.ca_file,
            cert_file=args.cert_file,
            key_file=args.key_file,
            tls_insecure=args.insecure,
        )
        tls = build_context(cfg)
    params = ConnectParams(
        endpoint=endpoint,
        client_id=f"edgerun-tail-{uuid.uuid4().hex[:12]}",
        keepalive=20,
        connect_timeout=5.0,
        mqtt5=args.mqtt_version == "5",
        username=args.username,
        password=_password(args),
        tls_context=tls,
    )
    backoff = Backoff(0.5, 10.0)
    while True:
        try:
            async with connect(params) as link:
                backoff.reset()
                for f in filters:
                    if not await link.subscribe(f, qos=1):
                        print(f"the broker refused the subscription {f!r}", file=sys.stderr)
                print(
                    f"connected to {endpoint}; subscribed to {', '.join(filters)}", file=sys.stderr
                )
                async for message in link.messages():
                    topic = message.topic.value
                    payload = bytes(message.payload)
                    kind = topic.rsplit("/", 1)[-1]
                    if kind in ("status", "heartbeat"):
                        printer.other(topic, kind, payload)
                        continue
                    try:
                        batch = decode(payload)
                    except PayloadError as exc:
                        print(f"{topic}: skipped: {exc}", file=sys.stderr)
                        continue
                    printer.batch(topic, batch)
                    if args.count and printer.readings >= args.count:
                        return EXIT_OK
        except ConnectFailed as exc:
            if exc.kind in ("auth", "tls"):
                print(f"error: {exc.reason}", file=sys.stderr)
                return EXIT_FAIL
            print(f"cannot connect: {exc.reason}", file=sys.stderr)
        except ConnectionLost as exc:
            print(f"connection lost: {exc}", file=sys.stderr)
        await anyio.sleep(backoff.next_delay())


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``edgerun tail``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        tls, host, port = parse_broker_url(args.url)
        password = _password(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    del password  # read again in _tail; checked here so a bad source fails fast
    printer = Printer(sys.stdout, args.json)
    try:
        return anyio.run(_tail, args, Endpoint(host, port, tls), printer)
    except TlsSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `edgerun tail | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
