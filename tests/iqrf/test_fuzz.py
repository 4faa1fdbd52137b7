"""Random and mutated input into every deframer and the decoder: no unhandled exceptions.

Each target gets at least 100,000 inputs (half random bytes, half mutations of valid
frames: flipped bits, cut, duplicated and inserted bytes). Only the typed
:class:`DpaFormatError` may escape a decoder; the deframers must never raise.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

from edgerun_iqrf import cdc, embed, hdlc, sensor, spi
from edgerun_iqrf.cli import frame_json
from edgerun_iqrf.dpa import Request, decode_frame, parse_hex
from edgerun_iqrf.errors import DpaFormatError

N = 100_000
SEEDS = [
    parse_hex("00 00 FF 3F 00 00 80 00 17 04 00 FD 26 00 00 00 00 00 00 05"),
    parse_hex("00 00 06 83 00 00 00 44"),
    parse_hex("03 00 0A 00 FF FF FF 35 01 04 01"),
    parse_hex("01 00 5E 81 02 06 00 40 01 40 01 80 A0 02 20 03"),
    parse_hex("00 00 0D 80 00 00 00 40 05") + bytes(55),
    parse_hex("00 00 00 82 00 00 00 47 0E") + bytes(31),
    parse_hex("05 00 5E 81 02 06 80 40 C0 03 AA BB CC A6 00 00 AC 41"),
]


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(5)
        if op == 0 and b:
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            del b[rnd.randrange(len(b)) :]
        elif op == 2:
            b.insert(rnd.randrange(len(b) + 1), rnd.choice((0x7E, 0x7D, 0x0D, 0x3C, 0x3A, 0xFF, 0)))
        elif op == 3 and b:
            i = rnd.randrange(len(b))
            b[i:i] = b[i : i + rnd.randint(1, 8)]
        elif b:
            b[rnd.randrange(len(b))] = rnd.getrandbits(8)
    return bytes(b)


def _inputs(seed: int, valid: list[bytes]) -> list[bytes]:
    rnd = random.Random(seed)
    out = []
    for i in range(N):
        if i % 2:
            out.append(rnd.randbytes(rnd.randint(0, 80)))
        else:
            out.append(_mutate(rnd, rnd.choice(valid)))
    return out


def test_uart_deframer_never_raises() -> None:
    d = hdlc.Deframer()
    inputs = _inputs(1, [hdlc.encode(s) for s in SEEDS])
    found = 0
    for data in inputs:
        found += len(d.feed(data))
    assert found > 1000  # mutations keep many frames intact: the deframer resyncs
    assert d.dropped > 1000
    # after all that noise it still decodes a clean frame
    assert d.feed(b"\x7e" + hdlc.encode(SEEDS[1])) == [SEEDS[1]]


def test_cdc_parsers_never_raise() -> None:
    dev, host = cdc.DeviceParser(), cdc.HostParser()
    dev_wire = [cdc.encode_received(s) for s in SEEDS] + [b"<DS:OK\r", b"<S:\x80\r"]
    host_wire = [cdc.encode_send(s) for s in SEEDS] + [b">IT\r", b">\r"]
    msgs = 0
    for data in _inputs(2, dev_wire):
        msgs += len(dev.feed(data))
    for data in _inputs(3, host_wire):
        msgs += len(host.feed(data))
    assert msgs > 1000
    assert len(dev._buf) <= cdc.MAX_TEXT + 70  # noise cannot grow the buffer
    dev.feed(b"\r")  # close whatever text packet the noise left open
    assert dev.feed(cdc.encode_received(SEEDS[1]))[-1] == cdc.CdcMessage("DR", SEEDS[1])


def test_spi_reply_parser_only_raises_typed_errors() -> None:
    ok = 0
    replies = [spi.slave_reply(s, 0x40 + len(s) % 64) for s in SEEDS]
    for data in _inputs(4, replies):
        n = max(1, len(data) - 3)
        try:
            spi.parse_read_reply(data, min(n, 64))
            ok += 1
        except DpaFormatError:
            pass
        spi.check_crcm(data)
        spi.status_state(data[0] if data else 0)
    assert ok > 100


def _decode_all(data: bytes, *payload: Callable[[bytes], object]) -> None:
    frame = decode_frame(data)
    frame_json(frame)
    frame_json(frame, Request(0, 0x0D, 0x00, 0xFFFF, bytes((0xE0, 0x5E, 0x01, 0, 0))))
    pd = getattr(frame, "pdata", b"")
    for decode in payload:
        with contextlib.suppress(DpaFormatError):
            decode(pd)


def test_decoder_only_raises_typed_errors() -> None:
    decoders: list[Callable[[bytes], object]] = [
        sensor.decode_with_types,
        sensor.decode_enumerate,
        lambda p: sensor.decode_without_types(p, [1, 0x80, 2]),
        embed.decode_os_read,
        embed.decode_enumeration,
        embed.decode_thermometer,
        embed.decode_frc_send,
        embed.decode_bitmap,
        embed.decode_binary_output_states,
        lambda p: embed.frc_values(0xE0, p, range(1, 32)),
    ]
    decoded = errors = 0
    for data in _inputs(5, SEEDS):
        try:
            _decode_all(data, *decoders)
            decoded += 1
        except DpaFormatError:
            errors += 1
    assert decoded > 10_000
    assert errors > 1000
