"""Every test vector of ../shared/protocols/ble-formats.md, plus published encrypted vectors.

Encrypted vectors come from third-party test suites (bthome-ble's v2 encryption test,
atc-ble's parser tests), not from our own encoder: a round trip would not catch a nonce
built the same wrong way in both directions.
"""

from __future__ import annotations

import pytest
from edgerun_ble.decoders.atc import ATCDecoder
from edgerun_ble.decoders.base import (
    AddressMismatch,
    AuthenticationFailed,
    BadLength,
    Decoded,
    KeyMissing,
    PlaintextRejected,
    Source,
    UnknownFormat,
)
from edgerun_ble.decoders.bthome import BTHomeDecoder
from edgerun_ble.decoders.ruuvi import RuuviDecoder

ANY = Source("AA:BB:CC:DD:EE:FF")
ATC_SENDER = Source("A4:C1:38:8D:18:B2")
ATC_KEY = bytes.fromhex("b9ea895fac7eea6d30532432a516f3a3")
BTHOME_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
BTHOME_KEYED = Source("54:48:E6:8F:80:A5", BTHOME_KEY)


def values(decoded: Decoded) -> dict[tuple[str, str | None, int], object]:
    return {(m.field, m.quantity, m.index): m.value for m in decoded.measurements}


def bthome(hex_payload: str, source: Source = ANY) -> Decoded:
    return BTHomeDecoder().decode(bytes.fromhex(hex_payload), source)


# --------------------------------------------------------------------------- BTHome v2

BTHOME_VECTORS = [
    (
        "4002C40903BF13",
        {("temperature", "temperature", 0): 25.0, ("humidity", "relative_humidity", 0): 50.55},
    ),
    ("4002CA09", {("temperature", "temperature", 0): 25.06}),
    ("4003BF13", {("humidity", "relative_humidity", 0): 50.55}),
    ("4012E204", {("co2", "co2", 0): 1250}),
    ("400161", {("battery", "battery", 0): 97}),
    ("4004138A01", {("pressure", "pressure", 0): 1008.83}),
    ("4005138A14", {("illuminance", "illuminance", 0): 13460.67}),
    ("400960", {("count", "count", 0): 96}),
    ("403D0960", {("count", "count", 0): 24585}),
    ("403E2A2C0960", {("count", "count", 0): 1611213866}),
    ("400C020C", {("voltage", "voltage", 0): 3.074}),
    ("40451101", {("temperature", "temperature", 0): 27.3}),
    ("4057EA", {("temperature", "temperature", 0): -22}),
    ("402E23", {("humidity", "relative_humidity", 0): 35}),
    ("4008CA06", {("dew_point", "dew_point", 0): 17.38}),
    ("400D120C", {("pm2_5", "pm2_5", 0): 3090}),
    ("40133301", {("tvoc", "tvoc", 0): 307}),
    (
        "40016102CA0903BF13",
        {
            ("battery", "battery", 0): 97,
            ("temperature", "temperature", 0): 25.06,
            ("humidity", "relative_humidity", 0): 50.55,
        },
    ),
]


@pytest.mark.parametrize(
    ("payload", "expected"), BTHOME_VECTORS, ids=[v[0] for v in BTHOME_VECTORS]
)
def test_bthome_reference_vectors(payload: str, expected: dict[object, object]) -> None:
    decoded = bthome(payload)
    assert values(decoded) == expected
    assert decoded.format == "bthome"
    assert not decoded.encrypted


def test_bthome_packet_id_is_the_dedupe_counter() -> None:
    decoded = bthome("400009")
    assert decoded.counter == 9
    assert decoded.measurements == ()


def test_bthome_full_on_air_example_service_data() -> None:
    # 020106 0B094449592D73656E736F72 0A16D2FC4002C40903BF13: the service-data element
    # after its length, type 0x16 and UUID bytes D2 FC is what bleak reports
    air = bytes.fromhex("0201060B094449592D73656E736F720A16D2FC4002C40903BF13")
    element = air[air.index(bytes.fromhex("16D2FC")) + 3 :]
    assert values(BTHomeDecoder().decode(element, ANY)) == {
        ("temperature", "temperature", 0): 25.0,
        ("humidity", "relative_humidity", 0): 50.55,
    }


def test_bthome_energy_kwh_becomes_wh() -> None:
    # 0x4D energy uint32 x 0.001 kWh: 0x00013880 = 80000 -> 80 kWh -> 80000 Wh
    assert values(bthome("404D80380100")) == {("energy", "energy", 0): 80000.0}


def test_bthome_repeated_ids_are_instances() -> None:
    decoded = bthome("4002CA0902D209")
    assert values(decoded) == {
        ("temperature", "temperature", 0): 25.06,
        ("temperature", "temperature", 1): 25.14,
    }


def test_bthome_text_and_raw_are_length_prefixed() -> None:
    decoded = bthome("405305676174657754030102FF")
    assert values(decoded) == {("text", "text", 0): "gatew", ("raw", "raw", 0): "0102ff"}


def test_bthome_stops_at_first_unknown_id() -> None:
    decoded = bthome("4002CA09" + "EE" + "03BF13")
    assert values(decoded) == {("temperature", "temperature", 0): 25.06}
    assert decoded.skipped == 4


def test_bthome_binary_event_and_flags() -> None:
    decoded = bthome("441A01" + "2D00" + "3A04" + "3C0203")
    assert decoded.trigger_based
    assert values(decoded) == {
        ("door", "binary", 0): True,
        ("window", "binary", 0): False,
        ("button", "action", 0): 4,
        ("dimmer", "action", 0): 2,
        ("dimmer_steps", None, 0): 3,
    }


def test_bthome_event_code_zero_is_no_event() -> None:
    assert values(bthome("4002CA09" + "3A00" + "3C0005")) == {
        ("temperature", "temperature", 0): 25.06
    }


def test_bthome_precipitation_uses_library_factor() -> None:
    assert values(bthome("405FA00F")) == {("precipitation", "precipitation", 0): 400.0}


def test_bthome_fields_with_vocabulary_quantities_are_mapped() -> None:
    assert values(bthome("40521027" + "5E2823" + "616400")) == {
        ("gyroscope", "angular_velocity", 0): 10.0,
        ("direction", "direction", 0): 90.0,
        ("rotational_speed", "rotational_speed", 0): 100,
    }


@pytest.mark.parametrize("payload", ["", "00", "2002CA09", "6002CA09"])
def test_bthome_rejects_other_versions(payload: str) -> None:
    with pytest.raises((UnknownFormat, BadLength)):
        bthome(payload)


@pytest.mark.parametrize("payload", ["4002CA", "4053", "405305AABB", "4004138A"])
def test_bthome_truncated_object_is_bad_length(payload: str) -> None:
    with pytest.raises(BadLength):
        bthome(payload)


# bthome-ble tests/test_v2_encryption.py: 02CA0903BF13 sealed for MAC 54:48:E6:8F:80:A5,
# counter bytes 00112233, key 231d39c1...
BTHOME_ENCRYPTED = "41A47266C95F730011223378237214"


def test_bthome_encrypted_vector() -> None:
    decoded = bthome(BTHOME_ENCRYPTED, BTHOME_KEYED)
    assert decoded.encrypted
    assert decoded.crypto_counter == 0x33221100
    assert values(decoded) == {
        ("temperature", "temperature", 0): 25.06,
        ("humidity", "relative_humidity", 0): 50.55,
    }


def test_bthome_encrypted_wrong_key_or_tag_or_sender() -> None:
    with pytest.raises(AuthenticationFailed):
        bthome(BTHOME_ENCRYPTED, Source("54:48:E6:8F:80:A5", bytes(16)))
    with pytest.raises(AuthenticationFailed):
        bthome(BTHOME_ENCRYPTED[:-2] + "15", BTHOME_KEYED)
    with pytest.raises(AuthenticationFailed):  # the nonce carries the sender's address
        bthome(BTHOME_ENCRYPTED, Source("54:48:E6:8F:80:A6", BTHOME_KEY))


def test_bthome_encrypted_without_key_and_plaintext_with_key() -> None:
    with pytest.raises(KeyMissing):
        bthome(BTHOME_ENCRYPTED, Source("54:48:E6:8F:80:A5"))
    with pytest.raises(PlaintextRejected):
        bthome("4002CA09", BTHOME_KEYED)


# ------------------------------------------------------------------------- RuuviTag 5


def test_ruuvi_reference_vector() -> None:
    decoded = RuuviDecoder().decode(
        bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"), ANY
    )
    g = 9.80665
    assert values(decoded) == {
        ("temperature", "temperature", 0): 24.3,
        ("humidity", "relative_humidity", 0): 53.49,
        ("pressure", "pressure", 0): 1000.44,
        ("acceleration_x", "acceleration", 0): pytest.approx(0.004 * g),
        ("acceleration_y", "acceleration", 0): pytest.approx(-0.004 * g),
        ("acceleration_z", "acceleration", 0): pytest.approx(1.036 * g),
        ("battery_voltage", "voltage", 0): 2.977,
        ("tx_power", "tx_power", 0): 4,
        ("movement_counter", "count_total", 0): 66,
        ("measurement_sequence", None, 0): 205,
        ("mac", None, 0): "CB:B8:33:4C:88:4F",
    }
    assert decoded.counter == 205


def test_ruuvi_maximum_and_minimum_vectors() -> None:
    high = RuuviDecoder().decode(
        bytes.fromhex("057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F"), ANY
    )
    v = values(high)
    assert v[("temperature", "temperature", 0)] == 163.835
    assert v[("humidity", "relative_humidity", 0)] == 163.835
    assert v[("pressure", "pressure", 0)] == 1155.34
    assert v[("battery_voltage", "voltage", 0)] == 3.646
    assert v[("tx_power", "tx_power", 0)] == 20
    assert v[("movement_counter", "count_total", 0)] == 254
    assert high.counter == 65534
    low = RuuviDecoder().decode(
        bytes.fromhex("058001000000008001800180010000000000CBB8334C884F"), ANY
    )
    v = values(low)
    assert v[("temperature", "temperature", 0)] == -163.835
    assert v[("pressure", "pressure", 0)] == 500.0
    assert v[("battery_voltage", "voltage", 0)] == 1.6
    assert v[("tx_power", "tx_power", 0)] == -40
    assert low.counter == 0


def test_ruuvi_not_available_fields_are_missing() -> None:
    decoded = RuuviDecoder().decode(
        bytes.fromhex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF"), ANY
    )
    assert decoded.measurements == ()
    assert decoded.counter is None


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("", BadLength),
        ("03291A1ECE1E", UnknownFormat),
        ("0512FC53", BadLength),
        ("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F00", BadLength),
    ],
)
def test_ruuvi_errors(payload: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        RuuviDecoder().decode(bytes.fromhex(payload), ANY)


# ----------------------------------------------------------------- Xiaomi ATC / pvvx


def test_atc1441_reference_vector() -> None:
    decoded = ATCDecoder().decode(bytes.fromhex("A4C1388D18B201122F640CA025"), ATC_SENDER)
    assert decoded.format == "atc1441"
    assert decoded.counter == 37
    assert values(decoded) == {
        ("temperature", "temperature", 0): 27.4,
        ("humidity", "relative_humidity", 0): 47,
        ("battery", "battery", 0): 100,
        ("battery_voltage", "voltage", 0): 3.232,
    }


def test_pvvx_reference_vector() -> None:
    decoded = ATCDecoder().decode(bytes.fromhex("B2188D38C1A4590AAD13B6091F1E05"), ATC_SENDER)
    assert decoded.format == "pvvx"
    assert decoded.counter == 30
    assert values(decoded) == {
        ("temperature", "temperature", 0): 26.49,
        ("humidity", "relative_humidity", 0): 50.37,
        ("battery_voltage", "voltage", 0): 2.486,
        ("battery", "battery", 0): 31,
        ("flags", None, 0): 5,
    }


@pytest.mark.parametrize(
    "payload", ["A4C1388D18B201122F640CA025", "B2188D38C1A4590AAD13B6091F1E05"]
)
def test_atc_embedded_mac_must_match_sender(payload: str) -> None:
    with pytest.raises(AddressMismatch):
        ATCDecoder().decode(bytes.fromhex(payload), Source("A4:C1:38:8D:18:B3"))


# atc-ble tests/test_parser.py, key b9ea895f..., sender A4:C1:38:8D:18:B2
def test_pvvx_encrypted_vector() -> None:
    decoded = ATCDecoder().decode(
        bytes.fromhex("11D603FBFA7B6DFB1E26FD"), Source(ATC_SENDER.address, ATC_KEY)
    )
    assert decoded.format == "pvvx"
    assert decoded.encrypted
    assert values(decoded) == {
        ("temperature", "temperature", 0): 23.45,
        ("humidity", "relative_humidity", 0): 41.73,
        ("battery", "battery", 0): 61,
        ("flags", None, 0): 4,
    }
    assert decoded.crypto_counter == 0x11
    assert decoded.counter_bits == 8


def test_atc1441_encrypted_vector() -> None:
    decoded = ATCDecoder().decode(
        bytes.fromhex("58E9E6556581B3F9"), Source(ATC_SENDER.address, ATC_KEY)
    )
    assert decoded.format == "atc1441"
    assert decoded.encrypted
    assert values(decoded) == {
        ("temperature", "temperature", 0): 26.5,
        ("humidity", "relative_humidity", 0): 47.0,
        ("battery", "battery", 0): 100,
        ("trigger", "binary", 0): True,
    }


def test_atc_encryption_errors() -> None:
    dec = ATCDecoder()
    with pytest.raises(KeyMissing):
        dec.decode(bytes.fromhex("58E9E6556581B3F9"), ATC_SENDER)
    with pytest.raises(AuthenticationFailed):
        dec.decode(bytes.fromhex("58E9E6556581B3F8"), Source(ATC_SENDER.address, ATC_KEY))
    with pytest.raises(AuthenticationFailed):  # another sender: another nonce
        dec.decode(bytes.fromhex("58E9E6556581B3F9"), Source("A4:C1:38:8D:18:B3", ATC_KEY))
    with pytest.raises(PlaintextRejected):
        dec.decode(bytes.fromhex("A4C1388D18B201122F640CA025"), Source(ATC_SENDER.address, ATC_KEY))
    with pytest.raises(BadLength):
        dec.decode(bytes(12), ATC_SENDER)
