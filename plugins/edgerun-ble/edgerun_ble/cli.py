"""``edgerun ble decode``: decode advertisement payloads given on the command line.

Prints a JSON list of decoded values (``format``, ``field``, ``quantity``, ``unit``,
``value``; ``quantity`` is null for fields the edgerun vocabulary has no name for) or exits
with status 1 and one line naming the reason: unknown format, bad length, authentication
failure, replayed counter, ... Several ``--service-data``/``--manufacturer-data`` options
are decoded in the order given, as successive packets of one device, so a second
encrypted frame whose counter does not move forward is reported as replayed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgerun_ble.config import bindkey_bytes
from edgerun_ble.decoders.base import (
    DecodeError,
    Decoder,
    Replayed,
    Source,
    UnknownFormat,
    normalize_address,
    normalize_uuid,
)
from edgerun_ble.decoders.registry import Registry, build_registry
from edgerun_ble.pipeline import counter_is_newer


class _Usage(Exception):
    pass


def _hex(text: str, what: str) -> bytes:
    cleaned = text.strip().replace(" ", "").replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise _Usage(f"{what}: {text!r} is not hexadecimal") from None


def _entry(kind: str, text: str) -> tuple[str, Any, bytes]:
    key, sep, data = text.partition("=")
    if not sep:
        raise _Usage(f"--{kind} expects KEY=HEX, got {text!r}")
    payload = _hex(data, f"--{kind} {key}")
    if kind == "service-data":
        try:
            return kind, normalize_uuid(key), payload
        except ValueError as exc:
            raise _Usage(str(exc)) from None
    try:
        cid = int(key, 0)
    except ValueError:
        raise _Usage(f"company id {key!r} is not a number (decimal or 0x-hex)") from None
    if not 0 <= cid <= 0xFFFF:
        raise _Usage(f"company id {key!r} is outside 0..0xFFFF")
    return kind, cid, payload


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgerun ble", description="BLE tools")
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser("decode", help="decode advertisement payloads to readings (JSON)")
    dec.add_argument("--address", required=True, help="sender address, AA:BB:CC:DD:EE:FF")
    dec.add_argument(
        "--service-data",
        action="append",
        default=[],
        metavar="UUID=HEX",
        help="service data without the UUID bytes; UUID 16-bit (fcd2) or 128-bit",
    )
    dec.add_argument(
        "--manufacturer-data",
        action="append",
        default=[],
        metavar="COMPANY_ID=HEX",
        help="manufacturer data without the company id; id decimal or 0x-hex",
    )
    dec.add_argument("--bindkey", metavar="HEX", help="the device's 16-byte key, 32 hex digits")
    return parser


def decode(
    address: str,
    entries: list[tuple[str, Any, bytes]],
    key: bytes | None,
    registry: Registry,
) -> list[dict[str, Any]]:
    """Decode ``entries`` in order; raises :class:`DecodeError` with the first failure."""
    source = Source(address, key)
    last: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for kind, ident, payload in entries:
        decoder: Decoder | None
        if kind == "service-data":
            decoder = registry.by_uuid.get(ident)
            label = f"service data {ident}"
        else:
            decoder = registry.by_company.get(ident)
            label = f"manufacturer data of company 0x{ident:04x}"
        if decoder is None:
            raise UnknownFormat(f"no decoder for {label}")
        decoded = decoder.decode(payload, source)
        if decoded.crypto_counter is not None:
            previous = last.get(decoded.format)
            if previous is not None and not counter_is_newer(
                decoded.crypto_counter, previous, decoded.counter_bits
            ):
                raise Replayed(
                    f"replayed counter: {decoded.crypto_counter} does not follow {previous}"
                )
            last[decoded.format] = decoded.crypto_counter
        for m in decoded.measurements:
            item: dict[str, Any] = {
                "format": decoded.format,
                "field": m.field,
                "quantity": m.quantity,
                "unit": m.unit,
                "value": m.value,
            }
            if m.index:
                item["index"] = m.index
            out.append(item)
    return out


def main(argv: list[str]) -> int:
    """Entry point of ``edgerun ble``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        address = normalize_address(args.address)
        key = bindkey_bytes(args.bindkey, "--bindkey") if args.bindkey else None
        entries = [_entry("service-data", t) for t in args.service_data]
        entries += [_entry("manufacturer-data", t) for t in args.manufacturer_data]
    except (_Usage, ValueError) as exc:
        parser.exit(2, f"edgerun ble decode: {exc}\n")
    if not entries:
        parser.exit(
            2, "edgerun ble decode: give at least one --service-data or --manufacturer-data\n"
        )
    try:
        result = decode(address, entries, key, build_registry())
    except DecodeError as exc:
        print(f"edgerun ble decode: {exc.reason}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


__all__ = ["decode", "main"]
