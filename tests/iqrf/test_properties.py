"""Property-based round trips of the framings and the codec."""

from __future__ import annotations

from edgerun_iqrf import cdc, embed, hdlc, sensor, spi
from edgerun_iqrf.dpa import Confirmation, Request, Response, decode_frame
from hypothesis import given, settings
from hypothesis import strategies as st

frames = st.binary(min_size=1, max_size=64)
pdata = st.binary(max_size=56)
u16 = st.integers(0, 0xFFFF)
u8 = st.integers(0, 0xFF)


@given(st.lists(frames, min_size=1, max_size=8), st.integers(1, 20))
def test_hdlc_round_trip_any_chunking(payloads: list[bytes], chunk: int) -> None:
    wire = b"".join(hdlc.encode(p) for p in payloads)
    d = hdlc.Deframer()
    got: list[bytes] = []
    for i in range(0, len(wire), chunk):
        got += d.feed(wire[i : i + chunk])
    assert got == payloads
    assert d.dropped == 0


@given(frames, st.binary(max_size=40))
def test_hdlc_recovers_after_garbage(payload: bytes, garbage: bytes) -> None:
    d = hdlc.Deframer()
    got = d.feed(garbage + hdlc.encode(payload))
    # garbage may itself complete a frame; the real frame is always the last one found
    assert got
    assert got[-1] == payload


@given(st.lists(frames, min_size=1, max_size=6), st.integers(1, 16))
def test_cdc_device_round_trip(payloads: list[bytes], chunk: int) -> None:
    wire = b"".join(cdc.encode_received(p) + cdc.encode_answer("DS:OK") for p in payloads)
    parser = cdc.DeviceParser()
    got: list[cdc.CdcMessage] = []
    for i in range(0, len(wire), chunk):
        got += parser.feed(wire[i : i + chunk])
    assert [m.data for m in got if m.tag == "DR"] == payloads
    assert [m.tag for m in got if m.tag != "DR"] == ["DS:OK"] * len(payloads)


@given(st.lists(frames, min_size=1, max_size=6))
def test_cdc_host_round_trip(payloads: list[bytes]) -> None:
    wire = b"".join(cdc.encode_send(p) for p in payloads)
    assert [m.data for m in cdc.HostParser().feed(wire)] == payloads


@given(st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32))
def test_cdc_module_info(data: bytes) -> None:
    got = cdc.DeviceParser().feed(cdc.encode_answer("IT", data, raw=True))
    assert got == [cdc.CdcMessage("IT", data)]


@given(frames)
def test_spi_write_packets_pass_the_slave_crc_check(data: bytes) -> None:
    packet = spi.write_packet(data)
    assert spi.check_crcm(packet)
    assert packet[2 : 2 + len(data)] == data


@given(frames, st.integers(0x40, 0x7F))
def test_spi_read_round_trip(data: bytes, status: int) -> None:
    reply = spi.slave_reply(data, status)
    assert spi.parse_read_reply(reply, len(data)) == data
    assert spi.data_ready_len(spi.ready_status(len(data))) == len(data)


@given(u16, u8, st.integers(0, 0x7F), u16, pdata)
def test_request_round_trip(nadr: int, pnum: int, pcmd: int, hwpid: int, data: bytes) -> None:
    req = Request(nadr, pnum, pcmd, hwpid, data)
    got = decode_frame(req.encode())
    if isinstance(got, Request):
        assert got == req
    else:  # an 11-byte request with 0xFF at offset 6 reads as a confirmation
        assert isinstance(got, Confirmation)
        assert len(req.encode()) == 11


@given(u16, st.integers(0, 0xFE), st.integers(0, 0x7F), u16, st.integers(0, 0xFE), u8, pdata)
def test_response_round_trip(
    nadr: int, pnum: int, pcmd: int, hwpid: int, rcode: int, dv: int, data: bytes
) -> None:
    resp = Response(nadr, pnum, pcmd, hwpid, rcode, dv, data)
    assert decode_frame(resp.encode()) == resp


@given(u16, u8, st.integers(0, 0x7F), u16, u8, u8, st.integers(0, 25), u8)
def test_confirmation_round_trip(
    nadr: int, pnum: int, pcmd: int, hwpid: int, dv: int, hops: int, slot: int, hr: int
) -> None:
    conf = Confirmation(nadr, pnum, pcmd, hwpid, dv, hops, slot * 10, hr)
    assert decode_frame(conf.encode()) == conf


@given(st.sets(st.integers(0, 255)))
def test_bitmap_round_trip(nodes: set[int]) -> None:
    assert embed.bitmap_to_nodes(embed.nodes_to_bitmap(nodes)) == sorted(nodes)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(sorted(sensor.SENSOR_TYPES)), max_size=8), st.randoms())
def test_sensor_with_types_round_trip(types: list[int], rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    body = bytearray()
    expected = []
    for t in types:
        width = sensor.value_width(t)
        if width is None:
            n = rnd.randint(0, 20)
            raw = bytes(rnd.getrandbits(8) for _ in range(n))
            body += bytes((t, n)) + raw
        else:
            raw = bytes(rnd.getrandbits(8) for _ in range(width))
            body += bytes((t,)) + raw
        expected.append((t, raw))
    got = sensor.decode_with_types(bytes(body))
    assert [(r.type, r.raw) for r in got] == expected
    without = sensor.decode_without_types(
        b"".join(
            (bytes((len(raw),)) if sensor.value_width(t) is None else b"") + raw
            for t, raw in expected
        ),
        types,
    )
    assert [r.raw for r in without] == [raw for _, raw in expected]


FRC_TYPES = sorted(t for t in sensor.SENSOR_TYPES if sensor.frc_command_for(t) is not None)


@settings(max_examples=300)
@given(st.sampled_from(FRC_TYPES), st.randoms())
def test_lossless_frc_value_equals_the_direct_value(type_id: int, rnd: object) -> None:
    import random

    from edgerun_iqrf.sim.mesh import frc_encode

    assert isinstance(rnd, random.Random)
    width = sensor.value_width(type_id)
    assert width is not None
    raw = rnd.randbytes(width)
    command = sensor.frc_command_for(type_id)
    assert command is not None
    frc = frc_encode(type_id, command, raw)
    direct = sensor.decode_value(type_id, raw)
    got = sensor.decode_frc_value(type_id, command, 1, frc)
    if got.ok:
        if isinstance(direct, float):
            assert got.value == direct
        elif isinstance(direct, str) and isinstance(got.value, str):
            assert int(got.value, 16) == int(direct, 16)
        else:
            assert got.value == direct
    else:  # error values and values the FRC form cannot carry
        assert got.status is sensor.FrcStatus.SENSOR_ERROR
