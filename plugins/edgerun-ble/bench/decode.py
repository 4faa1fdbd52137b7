"""Decode throughput of the BLE decoders and pipeline: one command, medians of 7 runs.

    .venv/bin/python plugins/edgerun-ble/bench/decode.py

Baseline (measured in the same run): a bare ``struct.unpack`` of the 24-byte Ruuvi frame,
the least any decoder must do. Each line prints the median time per payload and its ratio
to the baseline; the pipeline line includes policy, dedupe, replay and Reading building.
"""

from __future__ import annotations

import statistics
import struct
import time
from collections.abc import Callable

from edgerun_ble.decoders import builtin_decoders
from edgerun_ble.decoders.atc import ATCDecoder
from edgerun_ble.decoders.base import Source
from edgerun_ble.decoders.bthome import BTHomeDecoder, encode_encrypted
from edgerun_ble.decoders.registry import Registry
from edgerun_ble.decoders.ruuvi import RuuviDecoder
from edgerun_ble.pipeline import Advert, Pipeline, Policy

RUNS = 7
N = 20_000
ADDRESS = "54:48:E6:8F:80:A5"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
RUUVI = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"


def per_item(fn: Callable[[int], object]) -> float:
    """Median seconds per call over RUNS runs of N calls."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for i in range(N):
            fn(i)
        times.append((time.perf_counter() - start) / N)
    return statistics.median(times)


def main() -> None:
    layout = struct.Struct(">BhHHhhhHBH6s")
    plain, keyed = Source(ADDRESS), Source(ADDRESS, KEY)
    bthome, ruuvi, atc = BTHomeDecoder(), RuuviDecoder(), ATCDecoder()
    bt_plain = bytes.fromhex("40016102CA0903BF13")
    bt_sealed = encode_encrypted(ADDRESS, KEY, bytes.fromhex("02CA0903BF13"), 1)
    atc_frame = bytes.fromhex("B2188D38C1A4590AAD13B6091F1E05")
    atc_source = Source("A4:C1:38:8D:18:B2")
    counter = iter(range(10**9))
    pipeline = Pipeline(Registry(builtin_decoders()), Policy(), lambda name, n: None)

    def through_pipeline(i: int) -> object:
        n = next(counter)
        frame = bytes([0x40, 0x00, n & 0xFF, 0x02, n & 0xFF, 0x09])
        return pipeline.process(Advert(ADDRESS, {BTHOME_UUID: frame}, {}, -60, float(n)))

    cases: list[tuple[str, Callable[[int], object]]] = [
        ("baseline struct.unpack (Ruuvi)", lambda i: layout.unpack(RUUVI)),
        ("ruuvi decode", lambda i: ruuvi.decode(RUUVI, plain)),
        ("bthome plain decode", lambda i: bthome.decode(bt_plain, plain)),
        ("bthome encrypted decode", lambda i: bthome.decode(bt_sealed, keyed)),
        ("pvvx decode", lambda i: atc.decode(atc_frame, atc_source)),
        ("pipeline, bthome new packet", through_pipeline),
    ]
    base = None
    print(f"{'case':34} {'median µs/payload':>18} {'payloads/s':>12} {'x baseline':>11}")
    for name, fn in cases:
        t = per_item(fn)
        base = base or t
        print(f"{name:34} {t * 1e6:18.2f} {1 / t:12,.0f} {t / base:11.1f}")


if __name__ == "__main__":
    main()
