"""Every test vector of the IQRF DPA reference (shared/protocols/iqrf-dpa.md, section 4)."""

from __future__ import annotations

import pytest
from edgerun_iqrf import crc, embed, hdlc, sensor, spi, timing
from edgerun_iqrf.dpa import Confirmation, Request, Response, decode_frame, is_reset, parse_hex
from edgerun_iqrf.errors import DpaFormatError
from edgerun_iqrf.module_info import decode_module_info

H = parse_hex


# ------------------------------------------------------------------ 4.1 DPA frames


def test_v1_ledr_pulse_request_and_response() -> None:
    req = decode_frame(H("00 00 06 03 FF FF"))
    assert req == Request(0, 0x06, 0x03, 0xFFFF, b"")
    resp = decode_frame(H("00 00 06 83 00 00 00 44"))
    assert isinstance(resp, Response)
    assert (resp.pnum, resp.request_pcmd, resp.rcode, resp.dpa_value) == (6, 3, 0, 0x44)
    assert resp.matches(req)  # type: ignore[arg-type]
    assert resp.encode() == H("00 00 06 83 00 00 00 44")


def test_v5_extra_result() -> None:
    resp = decode_frame(H("00 00 0D 81 00 00 00 00") + bytes(9))
    assert isinstance(resp, Response)
    assert embed.decode_frc_extra(resp.pdata) == bytes(9)
    assert decode_frame(H("00 00 0D 01 FF FF")) == Request(0, 0x0D, 0x01)


def test_v6_send_selective_nodes_1_and_4() -> None:
    raw = H("00 00 0D 02 FF FF 90 12") + bytes(29) + H("5E 01 00 00")
    req = decode_frame(raw)
    assert isinstance(req, Request)
    assert req.pdata[0] == sensor.FRC_1BYTE
    assert embed.bitmap_to_nodes(req.pdata[1:31]) == [1, 4]
    built = embed.frc_selective_pdata(sensor.FRC_1BYTE, [1, 4], sensor.frc_user_data(0x01, 0))
    assert Request(0, 0x0D, 0x02, 0xFFFF, built).encode() == raw


def test_v7_addr_info() -> None:
    resp = decode_frame(H("00 00 00 80 00 00 00 40 00 2A"))
    assert isinstance(resp, Response)
    assert embed.decode_addr_info(resp.pdata) == embed.AddrInfo(0, 0x2A)


def test_v8_bonded_devices() -> None:
    resp = decode_frame(H("00 00 00 82 00 00 00 47 0E") + bytes(31))
    assert isinstance(resp, Response)
    assert embed.decode_bitmap(resp.pdata) == [1, 2, 3]


def test_v10_thermometer_missing_with_confirmation() -> None:
    conf = decode_frame(H("03 00 0A 00 FF FF FF 35 01 04 01"))
    assert conf == Confirmation(3, 0x0A, 0x00, 0xFFFF, 0x35, 1, 40, 1)
    resp = decode_frame(H("03 00 0A 80 00 00 00 40 80 04 00"))
    assert isinstance(resp, Response)
    assert embed.decode_thermometer(resp.pdata) is None


def test_v12_broadcast_confirmation_only() -> None:
    req = decode_frame(H("FF 00 01 08 FF FF 01 51 7C 11 81 02 47 7C 11 81 03 24 7C 11 81"))
    assert isinstance(req, Request)
    assert req.is_broadcast
    conf = decode_frame(H("FF 00 01 08 FF FF FF 00 03 08 00"))
    assert isinstance(conf, Confirmation)
    assert (conf.hops, conf.timeslot_ms, conf.hops_response) == (3, 80, 0)


def test_v15_discovery() -> None:
    assert decode_frame(H("00 00 00 07 FF FF 06 00")) == Request(0, 0, 7, 0xFFFF, b"\x06\x00")
    resp = decode_frame(H("00 00 00 87 00 00 00 37 0F"))
    assert isinstance(resp, Response)
    assert resp.pdata == b"\x0f"


def test_v16_bond_node() -> None:
    resp = decode_frame(H("00 00 00 84 00 00 00 35 01 02"))
    assert isinstance(resp, Response)
    assert resp.pdata == b"\x01\x02"


def test_doc_read_sensors_with_types() -> None:
    values = sensor.decode_with_types(H("01 40 01 80 A0"))
    assert [(v.quantity, v.unit, v.value) for v in values] == [
        ("temperature", "°C", 20.0),
        ("relative_humidity", "%", 80.0),
    ]


def test_doc_read_sensors_without_types() -> None:
    # bitmap 09 00 00 00 selects sensors 0 and 3 (temperature, humidity)
    values = sensor.decode_without_types(H("40 01 A0"), [0x01, 0x80], [0, 3])
    assert [(v.index, v.value) for v in values] == [(0, 20.0), (3, 80.0)]
    assert sensor.bitmap32([0, 3]) == H("09 00 00 00")


def test_doc_frc_send_with_sleep() -> None:
    pdata = H("90 5E 01 01 01 8F 00 20")
    assert pdata[0] == sensor.FRC_1BYTE
    assert pdata[1:4] == sensor.frc_user_data(0x01, 1)[:3]
    assert pdata[4] & 1  # sleep parameters follow
    assert int.from_bytes(pdata[5:7], "little") == 0x008F


def test_startup_async_message_both_pcmd_forms() -> None:
    raw = H("00 00 FF 3F 00 00 80 00 17 04 00 FD 26 00 00 00 00 00 00 05")
    for data in (raw, raw[:3] + b"\xbf" + raw[4:]):
        frame = decode_frame(data)
        assert isinstance(frame, Response)
        assert frame.is_async
        assert is_reset(frame)
        enum = embed.decode_enumeration(frame.pdata)
        assert enum.dpa_version_str == "4.17"
        assert enum.user_per_nr == 0
        assert enum.flags == 0x05
        assert enum.std_mode
        assert 0 in enum.embedded_pers
        assert 2 in enum.embedded_pers


# ---------------------------------------------------------------- 4.2 UART frames


UART = [
    (
        "00 00 FF 3F 00 00 80 00 17 04 00 FD 26 00 00 00 00 00 00 05",
        "7E 00 00 FF 3F 00 00 80 00 17 04 00 FD 26 00 00 00 00 00 00 05 4E 7E",
    ),
    ("00 00 06 80 00 00 00 00", "7E 00 00 06 80 00 00 00 00 A4 7E"),
    ("00 00 03 00 FF FF 00 7E 7D 7E", "7E 00 00 03 00 FF FF 00 7D 5E 7D 5D 7D 5E 48 7E"),
    ("2F 00 05 01 FF FF 00 7E 7D", "7E 2F 00 05 01 FF FF 00 7D 5E 7D 5D 7D 5E 7E"),
    ("00 00 06 03 FF FF", "7E 00 00 06 03 FF FF 0F 7E"),
    ("00 00 06 83 00 00 00 44", "7E 00 00 06 83 00 00 00 44 CD 7E"),
]


@pytest.mark.parametrize(("raw", "framed"), UART)
def test_uart_vectors(raw: str, framed: str) -> None:
    assert hdlc.encode(H(raw)) == H(framed)
    assert hdlc.decode(H(framed)) == H(raw)
    assert hdlc.Deframer().feed(H(framed)) == [H(raw)]


def test_uart_crc_values() -> None:
    assert crc.crc8_uart(b"123456789") == 0x0B
    assert crc.crc8_uart(H("00 00 06 81 00 00 00 00")) == 0x69
    assert crc.crc8_uart(H("2F 00 05 01 FF FF 00 7E 7D")) == 0x7E


@pytest.mark.parametrize(
    ("framed", "reason"),
    [
        ("7E 00 00 06 80 00 00 00 00 A5 7E", "bad CRC"),
        ("7E 7E", "not exactly one frame"),
        ("7E 00 7E", "frame shorter than 2 bytes"),
        ("7E 01 02 7D 7E 40 7E", "abort sequence"),
    ],
)
def test_uart_invalid_vectors(framed: str, reason: str) -> None:
    with pytest.raises(DpaFormatError) as err:
        hdlc.decode(H(framed))
    assert reason in str(err.value)
    d = hdlc.Deframer()
    assert d.feed(H(framed)) == []


# ----------------------------------------------------------------- 4.3 SPI packets


def test_spi_write_vectors() -> None:
    assert spi.write_packet(H("01 02")) == H("F0 82 01 02 2E 00")
    assert spi.write_packet(H("69")) == H("F0 81 69 47 00")
    assert spi.write_packet(H("00 00 06 03 FF FF")) == H("F0 86 00 00 06 03 FF FF 2C 00")
    assert spi.check_crcm(H("F0 82 01 02 2E 00"))
    assert not spi.check_crcm(H("F0 82 01 02 2F 00"))


def test_spi_read_vectors() -> None:
    assert spi.read_packet(2) == H("F0 02 00 00 AD 00")
    p10 = spi.read_packet(10)
    assert len(p10) == 14
    assert p10[12] == 0xA5
    assert spi.read_packet(8) == H("F0 08") + bytes(8) + H("A7 00")
    reply = H("4A 4A 30 31 32 33 34 35 36 37 38 39 54 3F")
    assert spi.parse_read_reply(reply, 10) == b"0123456789"
    assert reply[-1] == spi.RESULT_CRCM_OK
    assert spi.parse_read_reply(H("AA BB 01 02 03 5C"), 3) == H("01 02 03")
    with pytest.raises(DpaFormatError, match="CRCS mismatch"):
        spi.parse_read_reply(H("AA BB 01 02 03 5D"), 3)


def test_spi_ledr_response_crcs() -> None:
    resp = H("00 00 06 83 00 00 00 44")
    reply = spi.slave_reply(resp, 0x48)
    assert reply[10] == 0x96
    assert spi.parse_read_reply(reply, 8) == resp


def test_spi_module_info_vectors() -> None:
    assert spi.module_info_packet(long=False) == H("F5 10") + bytes(16) + H("BA 00")
    assert spi.module_info_packet(long=True) == H("F5 20") + bytes(32) + H("8A 00")
    info = decode_module_info(H("78 56 34 12 46 24 D8 08") + bytes(8))
    assert info.mid == 0x12345678
    assert info.os_version_str == "4.06"
    assert info.tr_type == 0x24
    assert info.series == "TR-72D"
    assert info.mcu == "PIC16LF1938"
    assert info.os_build == 0x08D8


@pytest.mark.parametrize(
    ("status", "length"), [(0x45, 5), (0x40, 64), (0x7F, 63), (0x10, None), (0x90, None)]
)
def test_spi_status_lengths(status: int, length: int | None) -> None:
    assert spi.data_ready_len(status) == length


# ------------------------------------------------------------ 1.5 timing rules


def test_worked_timeout_example_lp() -> None:
    # iqrfSensor_ReadSensorsWithTypes: confirmation ... FF 50 01 08 01 in LP mode
    conf = decode_frame(H("01 00 5E 01 FF FF FF 50 01 08 01"))
    assert isinstance(conf, Confirmation)
    assert timing.response_timeout_ms(conf, std_mode=False) == (2 * 80) + (2 * 110) + 40 == 420
    assert timing.response_timeout_ms(conf, std_mode=True) == (2 * 80) + (2 * 60) + 40


def test_routing_busy_uses_the_real_response_length() -> None:
    conf = Confirmation(1, 0x5E, 1, 0xFFFF, 0, 1, 40, 1)
    assert timing.routing_busy_ms(conf, 9, std_mode=True) == 2 * 40 + 2 * 40 + 40
    assert timing.routing_busy_ms(conf, 20, std_mode=True) == 2 * 40 + 2 * 50 + 40
    assert timing.routing_busy_ms(conf, 50, std_mode=False) == 2 * 40 + 2 * 100 + 40
    diag = Confirmation(1, 0x5E, 1, 0xFFFF, 0, 1, 200, 1)
    assert timing.response_timeout_ms(diag, std_mode=True) == 2 * 200 + 2 * 200 + 40


def test_frc_estimate() -> None:
    assert timing.frc_timeout_ms(10, 5, 40, std_mode=True) == 300 + 7 * 110 + 40 + 220
    assert timing.frc_timeout_ms(10, 5, 40, std_mode=False) == 300 + 7 * 160 + 40 + 260
    assert embed.FRC_RESPONSE_TIME_MS[7] == 20520
