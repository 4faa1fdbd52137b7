"""The sans-io DPA codec: frames, Standard Sensor quantities, FRC results, embedded payloads."""

from __future__ import annotations

import math
import struct

import pytest
from edgerun_iqrf import embed, sensor
from edgerun_iqrf.dpa import (
    Confirmation,
    Request,
    Response,
    decode_frame,
    parse_hex,
    rcode_name,
)
from edgerun_iqrf.errors import DpaFormatError
from edgerun_iqrf.sim.mesh import frc_encode

from edgerun.quantities import QUANTITIES


def test_every_sensor_type_maps_to_a_known_quantity_and_its_canonical_unit() -> None:
    for st in sensor.SENSOR_TYPES.values():
        assert st.quantity in QUANTITIES, st.name
        q = QUANTITIES[st.quantity]
        if q.kind == "number":
            assert st.unit == q.unit, st.name


@pytest.mark.parametrize(
    ("type_id", "raw", "quantity", "value"),
    [
        (0x01, "40 01", "temperature", 20.0),
        (0x01, "F0 FF", "temperature", -1.0),
        (0x01, "00 80", "temperature", None),
        (0x02, "20 03", "co2", 800),
        (0x02, "00 80", "co2", None),
        (0x03, "10 00", "voc", 16),
        (0x04, "E8 03", "voltage", 1.0),
        (0x05, "01 00", "magnetic_field", 1e-7),
        (0x06, "30 00", "voltage", 3.0),
        (0x07, "18 FC", "current", -1.0),
        (0x08, "28 00", "power", 10.0),
        (0x08, "FF FF", "power", None),
        (0x09, "50 C3", "frequency", 50.0),
        (0x0A, "3C 00", "duration", 60),
        (0x0B, "F4 01", "illuminance", 500),
        (0x0C, "E8 03", "no2", 1.0),
        (0x0D, "F4 01", "so2", 0.5),
        (0x0E, "64 00", "co", 1.0),
        (0x0F, "10 27", "o3", 1.0),
        (0x10, "50 3F", "pressure", 1013.0),
        (0x10, "FF FF", "pressure", None),
        (0x11, "B8 0B", "color_temperature", 3000),
        (0x12, "28 00", "pm2_5", 10.0),
        (0x13, "20 03", "sound_pressure", 50.0),
        (0x14, "00 10", "altitude", 0.0),
        (0x15, "00 01", "acceleration", 1.0),
        (0x16, "0A 00", "nh3", 1.0),
        (0x17, "E8 03", "ch4", 1.0),
        (0x18, "E8 03", "length", 1.0),
        (0x19, "04 00", "pm1", 1.0),
        (0x1A, "08 00", "pm4", 2.0),
        (0x1B, "0C 00", "pm10", 3.0),
        (0x1C, "64 00", "tvoc", 100),
        (0x1D, "05 00", "nox_index", 5),
        (0x1E, "C8 00", "radon", 200),
        (0x1F, "01 00", "binary", True),
        (0x1F, "00 00", "binary", False),
        (0x1F, "00 80", "binary", None),
        (0x20, "04 00", "pm40", 1.0),
        (0x80, "A0", "relative_humidity", 80.0),
        (0x80, "EE", "relative_humidity", None),
        (0x81, "05", "raw", "0x05"),
        (0x81, "85", "raw", None),
        (0x82, "C8", "power_factor", 1.0),
        (0x83, "10", "uv_index", 2.0),
        (0x84, "70", "ph", 7.0),
        (0x85, "B4", "rssi", -37.0),
        (0x86, "01", "action", 1),
        (0x86, "FB", "action", None),
        (0xA0, "01 00 00 00", "raw", "0x00000001"),
        (0xA0, "00 00 00 80", "raw", None),
        (0xA1, "10 27 00 00", "energy", 10000),
        (0xA1, "FF FF FF FF", "energy", None),
        (0xA2, "00 00 00 60", "raw", "0x60000000"),
        (0xA3, "20 00 00 00", "duration", 2.0),
        (0xA6, "00 00 AC 41", "temperature", 21.5),
        (0xA6, "00 00 C0 7F", "temperature", None),
        (0xA7, "00 00 80 3F", "length", 1.0),
        (0xA8, "01 02 03 04", "raw", "0x04030201"),
    ],
)
def test_sensor_values(type_id: int, raw: str, quantity: str, value: object) -> None:
    st = sensor.sensor_type(type_id)
    assert st.quantity == quantity
    got = st.decode(parse_hex(raw))
    if isinstance(value, float):
        assert isinstance(got, float)
        assert math.isclose(got, value, rel_tol=1e-9)
    else:
        assert got == value


def test_latitude_longitude() -> None:
    # 50° 5.1234' N: frac 1234 LE, minutes 5 | valid bit 6, degrees 50
    raw = (1234).to_bytes(2, "little") + bytes((5 | 0x40, 50))
    value = sensor.decode_value(0xA4, raw)
    assert isinstance(value, float)
    assert math.isclose(value, 50 + 5.1234 / 60)
    west = (0).to_bytes(2, "little") + bytes((30 | 0x40 | 0x80, 14))
    assert sensor.decode_value(0xA5, west) == -(14 + 0.5)
    assert sensor.decode_value(0xA4, raw[:3] + b"\xff") is None
    assert sensor.decode_value(0xA4, raw[:2] + b"\x05" + raw[3:]) is None  # valid bit clear


def test_data_block_and_unknown_types() -> None:
    values = sensor.decode_with_types(parse_hex("C0 03 AA BB CC 21 01 02 87 09"))
    assert [(v.type, v.quantity, v.value) for v in values] == [
        (0xC0, "raw", "aabbcc"),
        (0x21, "raw", "0102"),
        (0x87, "raw", "09"),
    ]


@pytest.mark.parametrize(
    ("pdata", "reason"),
    [
        ("01 40", "truncated"),
        ("00 01", "type 0"),
        ("C0", "length byte"),
        ("C0 05 01", "truncated"),
    ],
)
def test_sensor_payload_errors(pdata: str, reason: str) -> None:
    with pytest.raises(DpaFormatError, match=reason):
        sensor.decode_with_types(parse_hex(pdata))


def test_read_without_types_rejects_leftovers() -> None:
    with pytest.raises(DpaFormatError, match="left"):
        sensor.decode_without_types(parse_hex("40 01 A0 00"), [0x01, 0x80])


def test_enumerate() -> None:
    assert sensor.decode_enumerate(parse_hex("01 80 02")) == [1, 0x80, 2]
    with pytest.raises(DpaFormatError):
        sensor.decode_enumerate(bytes(33))


# ---------------------------------------------------------------------- FRC


@pytest.mark.parametrize(
    ("type_id", "command", "frc", "value"),
    [
        (0x01, sensor.FRC_1BYTE, 84, 20.0),
        (0x01, sensor.FRC_2BYTE, 0x8140, 20.0),
        (0x01, sensor.FRC_2BYTE, 0x7FF0, -1.0),
        (0x02, sensor.FRC_1BYTE, 54, 800),
        (0x02, sensor.FRC_2BYTE, 804, 800),
        (0x10, sensor.FRC_2BYTE, 1013 * 16 + 4, 1013.0),
        (0x14, sensor.FRC_2BYTE, 0x1004, 0.0),
        (0x80, sensor.FRC_1BYTE, 4, 0.0),
        (0x80, sensor.FRC_1BYTE, 204, 100.0),
        (0x81, sensor.FRC_2BIT, 2, False),
        (0x81, sensor.FRC_2BIT, 3, True),
        (0x85, sensor.FRC_1BYTE, 258 - 80, -40.0),
        (0xA1, sensor.FRC_4BYTE, 10004, 10000),
        (0xA6, sensor.FRC_4BYTE, struct.unpack("<I", struct.pack("<f", 21.5))[0] + 4, 21.5),
    ],
)
def test_sensor_frc_values(type_id: int, command: int, frc: int, value: object) -> None:
    got = sensor.decode_frc_value(type_id, command, 1, frc)
    assert got.ok
    assert got.value == value


@pytest.mark.parametrize("command", [sensor.FRC_1BYTE, sensor.FRC_2BYTE, sensor.FRC_4BYTE])
@pytest.mark.parametrize("raw", [0, 1, 2, 3])
def test_reserved_frc_values(command: int, raw: int) -> None:
    type_id = {sensor.FRC_1BYTE: 0x80, sensor.FRC_2BYTE: 0x02, sensor.FRC_4BYTE: 0xA1}[command]
    got = sensor.decode_frc_value(type_id, command, 7, raw)
    assert got.status == sensor.FrcStatus(raw)
    assert got.value is None


def test_reserved_2bit_values() -> None:
    assert (
        sensor.decode_frc_value(0x81, sensor.FRC_2BIT, 1, 0).status is sensor.FrcStatus.NO_RESPONSE
    )
    assert (
        sensor.decode_frc_value(0x81, sensor.FRC_2BIT, 1, 1).status
        is sensor.FrcStatus.NOT_IMPLEMENTED
    )


def test_frc_rejects_width_the_type_lacks() -> None:
    with pytest.raises(DpaFormatError):
        sensor.decode_frc_value(0x80, sensor.FRC_4BYTE, 1, 100)


@pytest.mark.parametrize(
    ("type_id", "raw"),
    [(0x01, "40 01"), (0x01, "F0 FF"), (0x02, "20 03"), (0x80, "A0"), (0xA1, "10 27 00 00")],
)
def test_frc_encode_decode_agree(type_id: int, raw: str) -> None:
    data = parse_hex(raw)
    command = sensor.frc_command_for(type_id)
    assert command is not None
    frc = frc_encode(type_id, command, data)
    assert sensor.decode_frc_value(type_id, command, 1, frc).value == sensor.decode_value(
        type_id, data
    )


def test_frc_command_prefers_lossless_width() -> None:
    assert sensor.frc_command_for(0x01) == sensor.FRC_2BYTE
    assert sensor.frc_command_for(0x02) == sensor.FRC_2BYTE
    assert sensor.frc_command_for(0x80) == sensor.FRC_1BYTE
    assert sensor.frc_command_for(0xA1) == sensor.FRC_4BYTE
    assert sensor.frc_command_for(0xC0) is None


def test_frc_buffer_layouts() -> None:
    for command, values in [
        (0x10, {1: 3, 2: 2, 200: 1, 239: 3}),
        (0x90, {1: 200, 54: 4, 55: 9, 63: 255}),
        (0xE0, {1: 0x1234, 26: 5, 27: 0xFFFF, 31: 7}),
        (0xF9, {1: 0x12345678, 12: 4, 13: 99, 15: 0xFFFFFFFF}),
    ]:
        buf = embed.encode_frc_buffer(command, values)
        assert embed.frc_values(command, buf, values) == values
    assert embed.frc_needs_extra(0x90, [54]) is False
    assert embed.frc_needs_extra(0x90, [55]) is True
    assert embed.frc_needs_extra(0xE0, [27]) is True
    assert embed.frc_needs_extra(0xF9, [13]) is True
    assert embed.frc_needs_extra(0x10, [183]) is False
    assert embed.frc_needs_extra(0x10, [184]) is True
    with pytest.raises(DpaFormatError):
        embed.frc_values(0xE0, bytes(55), [30])


# --------------------------------------------------------------- frames, payloads


def test_frame_errors() -> None:
    for data, reason in [
        (b"", "shorter"),
        (bytes(5), "shorter"),
        (bytes(65), "exceeds"),
        (parse_hex("01 00 5E 81 00 00 00"), "shorter than 8"),
        (parse_hex("01 00 5E 81 00 00 FF 00"), "confirmation status"),
    ]:
        with pytest.raises(DpaFormatError, match=reason):
            decode_frame(data)
    with pytest.raises(DpaFormatError):
        Request(1, 2, 0x80)
    with pytest.raises(DpaFormatError):
        Request(1, 2, 3, pdata=bytes(57))


def test_kinds_and_names() -> None:
    assert decode_frame(parse_hex("05 00 5E 81 02 06 80 40 01 40 01")).kind == "async"
    assert decode_frame(parse_hex("05 00 5E 81 02 06 08 40")).kind == "response"
    assert rcode_name(0x08) == "ERROR_NADR"
    assert rcode_name(0x80) == "STATUS_NO_ERROR|ASYNC_RESPONSE"
    assert rcode_name(0x21) == "ERROR_USER_0x01"
    assert rcode_name(0xFF) == "STATUS_CONFIRMATION"
    resp = decode_frame(parse_hex("05 00 5E 81 02 06 08 40"))
    assert isinstance(resp, Response)
    assert not resp.ok
    conf = Confirmation(1, 2, 3, 0xFFFF, 0, 2, 50, 2)
    assert decode_frame(conf.encode()) == conf


@pytest.mark.parametrize("text", ["00.00.06.03.ff.ff", "00 00 06 03 FF FF", "0000 0603ffff"])
def test_parse_hex_forms(text: str) -> None:
    assert parse_hex(text) == bytes((0, 0, 6, 3, 0xFF, 0xFF))


@pytest.mark.parametrize("text", ["", "0g", "123"])
def test_parse_hex_errors(text: str) -> None:
    with pytest.raises(DpaFormatError):
        parse_hex(text)


def test_os_read_short_and_long() -> None:
    short = (
        (0x8100A0C0).to_bytes(4, "little")
        + bytes((0x43, 0xB5, 0xD8, 0x08, 0x5A, 0x28, 0x02, 0x31))
        + bytes(16)
    )
    info = embed.decode_os_read(short)
    assert info.mid == 0x8100A0C0
    assert info.os_version_str == "4.03"
    assert info.mcu_type == 5
    assert info.rssi_dbm == -40
    assert info.supply_v == 3.001
    assert info.uart_interface
    assert info.shortest_slot_ms == 40
    assert info.longest_slot_ms == 60
    assert info.enumeration is None
    long = short + parse_hex("17 04 01 FE 26 00 00 02 06 01 00 01") + bytes(7) + b"\x40"
    info = embed.decode_os_read(long)
    assert info.enumeration is not None
    assert info.enumeration.hwpid == 0x0602
    assert info.enumeration.user_pers == (0x5E,)
    with pytest.raises(DpaFormatError):
        embed.decode_os_read(short[:27])


def test_enumeration_round_trip() -> None:
    enum = embed.PeripheralEnumeration(0x0417, 2, (1, 2, 6, 7), 0x0602, 3, 1, (0x4B, 0x5E))
    assert embed.decode_enumeration(enum.encode()) == enum


def test_thermometer_values() -> None:
    assert embed.decode_thermometer(parse_hex("16 60 01")) == 22.0
    assert embed.decode_thermometer(parse_hex("FE E0 FF")) == -2.0
    assert embed.decode_thermometer(parse_hex("FE E0 0F")) == -2.0  # 12-bit form


def test_binary_output_payloads() -> None:
    assert embed.binary_output_set_pdata({0: 1, 3: 0}) == parse_hex("09 00 00 00 01 00")
    assert embed.binary_output_state(True, 5) == 0x85
    assert embed.binary_output_state(True, 600) == 10
    assert embed.binary_output_state(True) == 1
    assert embed.binary_output_state(False) == 0
    with pytest.raises(DpaFormatError):
        embed.binary_output_set_pdata({0: 0x80})
    with pytest.raises(DpaFormatError):
        embed.binary_output_state(True, 10_000)
    assert embed.decode_binary_output_states(parse_hex("05 00 00 00")) == [0, 2]
