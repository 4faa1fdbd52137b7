"""100,000+ random and mutated payloads into each decoder: DecodeError or a sane result.

Seeds are fixed so a failure reproduces; the failing payload is in the assertion message.
Half the inputs are random bytes of random length, half are mutations of valid frames (bit
flips, byte changes, truncation, extension, splices), half of them with a bindkey so the
encrypted paths run too. Every result must hold only known quantities with finite values.
"""

from __future__ import annotations

import math
import random
import time

import pytest
from edgerun_ble.decoders.atc import ATCDecoder
from edgerun_ble.decoders.atc import encode_encrypted as atc_encrypt
from edgerun_ble.decoders.base import Decoded, DecodeError, Decoder, Source
from edgerun_ble.decoders.bthome import OBJECTS, BTHomeDecoder
from edgerun_ble.decoders.bthome import encode_encrypted as bthome_encrypt
from edgerun_ble.decoders.registry import Registry
from edgerun_ble.decoders.ruuvi import RuuviDecoder
from edgerun_ble.pipeline import Advert, Pipeline, Policy

from edgerun.api import QUANTITIES

PER_DECODER = 100_000
ADDRESS = "A4:C1:38:8D:18:B2"
KEY = bytes.fromhex("b9ea895fac7eea6d30532432a516f3a3")

_BTHOME_ALL = bytes.fromhex(
    "40"
    "0009"
    "0161"
    "02CA09"
    "03BF13"
    "04138A01"
    "05138A14"
    "2E23"
    "3A01"
    "3C0103"
    "4D80380100"
    "5305616263646"
    "5"
    "5402ABCD"
    "F00100"
    "F1010203FF"
)
SEEDS = {
    "bthome": [
        bytes.fromhex(h)
        for h in (
            "4002C40903BF13",
            "40016102CA0903BF13",
            "403E2A2C0960",
            "441A01",
            "405305676174657754030102FF",
        )
    ]
    + [_BTHOME_ALL, bthome_encrypt(ADDRESS, KEY, bytes.fromhex("02CA0903BF13"), 7)],
    "ruuvi": [
        bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"),
        bytes.fromhex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF"),
    ],
    "atc": [
        bytes.fromhex("A4C1388D18B201122F640CA025"),
        bytes.fromhex("B2188D38C1A4590AAD13B6091F1E05"),
        atc_encrypt(ADDRESS, KEY, bytes.fromhex("2a0930114b04"), 3),
        atc_encrypt(ADDRESS, KEY, bytes.fromhex("8a5fe4"), 4),
    ],
}
DECODERS: dict[str, Decoder] = {
    "bthome": BTHomeDecoder(),
    "ruuvi": RuuviDecoder(),
    "atc": ATCDecoder(),
}


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:
            del data[rng.randrange(len(data) + 1) :]
        elif op == 3:
            data += rng.randbytes(rng.randint(1, 8))
        elif op == 4 and data:
            i = rng.randrange(len(data))
            data[i:i] = rng.randbytes(rng.randint(1, 4))
        else:
            data[0:1] = bytes([rng.choice((0x40, 0x41, 0x44, 0x45, 0x05, rng.randrange(256)))])
    return bytes(data)


def check(decoded: Decoded, payload: bytes) -> None:
    assert isinstance(decoded, Decoded), payload.hex()
    for m in decoded.measurements:
        assert m.quantity is None or m.quantity in QUANTITIES, (m, payload.hex())
        if isinstance(m.value, float):
            assert math.isfinite(m.value), (m, payload.hex())
        if m.quantity is not None:
            kind = QUANTITIES[m.quantity].kind
            expected = {"number": (int, float), "bool": (bool,), "str": (str,)}[kind]
            assert isinstance(m.value, expected), (m, payload.hex())


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_random_and_mutated_payloads(name: str) -> None:
    decoder = DECODERS[name]
    rng = random.Random(f"ble-fuzz-{name}")
    plain, keyed = Source(ADDRESS), Source(ADDRESS, KEY)
    seeds = SEEDS[name]
    outcomes = {"ok": 0, "error": 0}
    started = time.monotonic()
    for i in range(PER_DECODER):
        # odd rounds mutate a valid frame, even rounds are random bytes
        payload = mutate(rng, rng.choice(seeds)) if i % 2 else rng.randbytes(rng.randint(0, 40))
        source = keyed if i % 4 < 2 else plain
        try:
            decoded = decoder.decode(payload, source)
        except DecodeError:
            outcomes["error"] += 1
            continue
        check(decoded, payload)
        outcomes["ok"] += 1
    elapsed = time.monotonic() - started
    assert sum(outcomes.values()) == PER_DECODER
    assert outcomes["ok"] > 0, outcomes
    assert outcomes["error"] > 0, outcomes
    assert elapsed < 60, f"{name}: {elapsed:.1f} s"


def test_every_bthome_object_id_parses_at_its_length() -> None:
    rng = random.Random("bthome-ids")
    dec = BTHomeDecoder()
    for oid, obj in OBJECTS.items():
        for _ in range(50):
            if oid in (0x53, 0x54):
                n = rng.randint(0, 12)
                body = bytes([oid, n]) + rng.randbytes(n)
            else:
                body = bytes([oid]) + rng.randbytes(obj.size)
            decoded = dec.decode(b"\x40" + body, Source(ADDRESS))
            check(decoded, body)
            assert decoded.skipped == 0, hex(oid)


def test_pipeline_survives_garbage_from_every_key() -> None:
    counts: dict[str, int] = {}

    def count(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    registry = Registry(DECODERS.values())
    pipeline = Pipeline(registry, Policy(keys={ADDRESS: KEY}, max_devices=64), count)
    rng = random.Random("pipeline")
    uuids = [*registry.by_uuid, "0000feaa-0000-1000-8000-00805f9b34fb"]
    cids = [*registry.by_company, 0x004C]
    for i in range(20_000):
        address = ADDRESS if i % 3 == 0 else f"00:00:00:00:{i % 200 // 256:02X}:{i % 200 % 256:02X}"
        advert = Advert(
            address,
            {rng.choice(uuids): rng.randbytes(rng.randint(0, 30))},
            {rng.choice(cids): rng.randbytes(rng.randint(0, 30))},
            received=float(i),
        )
        for reading in pipeline.process(advert):
            assert reading.quantity in QUANTITIES
    assert counts.get("evicted_devices", 0) > 0  # 200 addresses through a 64-entry table
    assert sum(v for k, v in counts.items() if k.startswith("dropped_")) > 10_000
