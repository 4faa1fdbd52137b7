"""``edgerun iqrf`` decode / probe / simulate, in process and as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from edgerun_iqrf import cli, hdlc
from edgerun_iqrf.dpa import parse_hex


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_response_with_sensors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "decode", "01.00.5E.81.02.06.00.40.01.40.01.80.A0.02.20.03")
    assert code == 0
    obj = json.loads(out)
    assert obj["kind"] == "response"
    assert obj["nadr"] == 1
    assert obj["pnum"] == 0x5E
    assert obj["pcmd"] == 0x81
    assert obj["hwpid"] == 0x0602
    assert obj["rcode"] == 0
    assert obj["rcode_name"] == "STATUS_NO_ERROR"
    assert obj["dpa_value"] == 0x40
    assert obj["sensors"] == [
        {"index": 0, "type": 1, "quantity": "temperature", "unit": "°C", "value": 20.0},
        {"index": 1, "type": 0x80, "quantity": "relative_humidity", "unit": "%", "value": 80.0},
        {"index": 2, "type": 2, "quantity": "co2", "unit": "ppm", "value": 800},
    ]


def test_decode_error_value_is_null(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "decode", "01 00 5E 81 02 06 00 40 01 00 80")
    assert code == 0
    assert json.loads(out)["sensors"][0]["value"] is None


def test_decode_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "decode", "03 00 0A 00 FF FF FF 35 01 04 01")
    obj = json.loads(out)
    assert code == 0
    assert obj["kind"] == "confirmation"
    assert (obj["hops"], obj["timeslot_ms"], obj["hops_response"]) == (1, 40, 1)


def test_decode_async_and_uart_framed(capsys: pytest.CaptureFixture[str]) -> None:
    raw = parse_hex("00 00 FF 3F 00 00 80 00 17 04 00 FD 26 00 00 00 00 00 00 05")
    code, out, _ = run_cli(capsys, "decode", hdlc.encode(raw).hex())
    obj = json.loads(out)
    assert code == 0
    assert obj["kind"] == "async"
    assert obj["rcode"] == 0x80


def test_decode_sensor_frc_with_request(capsys: pytest.CaptureFixture[str]) -> None:
    request = "00 00 0D 02 FF FF 90" + " 12" + " 00" * 29 + " 5E 80 00 00"
    data = bytearray(55)
    data[1], data[4] = 164, 0  # node 1: 80 %; node 4: no response
    response = "00 00 0D 82 00 00 00 40 01" + data.hex()
    code, out, _ = run_cli(capsys, "decode", response, "--request", request)
    assert code == 0
    sensors = json.loads(out)["sensors"]
    assert sensors == [
        {"node": 1, "index": 0, "type": 0x80, "quantity": "relative_humidity", "unit": "%",
         "value": 80.0, "frc_status": "ok"},
        {"node": 4, "index": 0, "type": 0x80, "quantity": "relative_humidity", "unit": "%",
         "value": None, "frc_status": "no_response"},
    ]  # fmt: skip


def test_decode_read_sensors_with_given_types(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "decode", "01 00 5E 80 02 06 00 40 40 01 A0", "--types", "01,80",
        "--request", "01 00 5E 00 FF FF 09 00 00 00",
    )  # fmt: skip
    assert code == 0
    assert [(s["index"], s["value"]) for s in json.loads(out)["sensors"]] == [(0, 20.0), (3, 80.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zz", "not hex"),
        ("00 00 06", "shorter than the 6-byte header"),
        ("01 00 5E 81 02 06 00 40 01 40", "truncated"),
        ("7E 00 00 06 80 00 00 00 00 A5 7E", "bad CRC"),
    ],
)
def test_decode_malformed_exits_nonzero(
    capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, out, err = run_cli(capsys, "decode", text)
    assert code != 0
    assert out == ""
    assert message in err


def test_decode_as_module_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgerun_iqrf.cli", "decode", "00 00 06 83 00 00 00 44"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dpa_value"] == 0x44


def test_probe_spi_without_device_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "probe", "--transport", "spi", "--port", "/dev/nothing")
    assert code == 2
    assert "spidev" in err


def test_probe_missing_serial_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "probe", "--transport", "uart", "--port", str(tmp_path / "x"))
    assert code == 2
    assert "cannot open" in err


@pytest.fixture(params=["uart", "cdc"])
def simulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    link = tmp_path / f"tty-{request.param}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgerun_iqrf.cli", "simulate", "--preset", "conference",
         "--transport", request.param, "--link", str(link)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not link.is_symlink():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "simulator did not create its link"
            time.sleep(0.02)
        yield request.param, link
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert not link.exists()
        assert not link.is_symlink()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_probe_against_the_simulator(
    capsys: pytest.CaptureFixture[str], simulator: tuple[str, Path]
) -> None:
    kind, link = simulator
    code, out, err = run_cli(capsys, "probe", "--transport", kind, "--port", str(link))
    assert code == 0, err
    info = json.loads(out)
    assert info["bonded"] == list(range(1, 41))
    assert info["discovered"] == list(range(21, 41))
    assert info["coordinator"]["dpa_version"] == "4.17"
    assert info["coordinator"]["dev_nr"] == 40
    assert info["coordinator"]["rf_mode"] == "STD"
    if kind == "cdc":
        assert info["module"]["os"] == "4.03"


def test_simulate_rejects_unknown_preset(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, "simulate", "--preset", "nope", "--transport", "uart", "--link", str(tmp_path / "l")
    )
    assert code == 2
    assert "unknown preset" in err


def test_edgerun_iqrf_through_the_core_cli() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgerun.cli.main",
            "iqrf",
            "decode",
            "00.00.00.80.00.00.00.40.00.2A",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["pdata"] == "002a"
    assert obj["dpa_value"] == 0x40


def test_decode_two_bit_sensor_frc(capsys: pytest.CaptureFixture[str]) -> None:
    request = "00 00 0D 00 FF FF 10 5E 81 00 00"  # FRC Send, 2-bit, binary data7 bit 0
    data = bytearray(55)
    data[0] = 0b0110  # bit0 of nodes 1 and 2
    data[32] = 0b0110  # bit1 of nodes 1 and 2: both answered (0b11 = bit set)
    data[32] |= 0b1000  # node 3: bit1 only (0b10 = bit clear)
    response = "00 00 0D 80 00 00 00 40 03" + data.hex()
    code, out, err = run_cli(capsys, "decode", response, "--request", request)
    assert code == 0, err
    sensors = {s["node"]: s for s in json.loads(out)["sensors"]}
    assert len(sensors) == 183  # without ExtraResult the 2-bit result covers nodes 1-183
    assert sensors[1]["value"] is True
    assert sensors[3]["value"] is False
    assert sensors[4]["frc_status"] == "no_response"
