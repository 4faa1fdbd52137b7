"""``edgerun ble decode``: JSON out, or a non-zero exit with the reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from edgerun_ble.cli import main

ATC_ARGS = ["decode", "--address", "a4:c1:38:8d:18:b2"]
BTHOME_KEYED = [
    "decode",
    "--address",
    "54:48:E6:8F:80:A5",
    "--bindkey",
    "231d39c1d7cc1ab1aee224cd096db932",
]
SEALED = "41A47266C95F730011223378237214"


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_decodes_service_data_to_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, [*ATC_ARGS, "--service-data", "181a=A4C1388D18B201122F640CA025"])
    assert code == 0
    result = json.loads(out)
    assert {
        "format": "atc1441",
        "field": "temperature",
        "quantity": "temperature",
        "unit": "°C",
        "value": 27.4,
    } in result
    assert len(result) == 4


def test_full_uuid_and_company_ids(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        [
            "decode",
            "--address",
            "CB:B8:33:4C:88:4F",
            "--service-data",
            "0000fcd2-0000-1000-8000-00805f9b34fb=4002CA09",
            "--manufacturer-data",
            "1177=0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F",
        ],
    )
    assert code == 0
    result = json.loads(out)
    assert result[0] == {
        "format": "bthome",
        "field": "temperature",
        "quantity": "temperature",
        "unit": "°C",
        "value": 25.06,
    }
    assert {
        "format": "ruuvi",
        "field": "mac",
        "quantity": None,
        "unit": "",
        "value": "CB:B8:33:4C:88:4F",
    } in result


def test_encrypted_with_bindkey(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, [*BTHOME_KEYED, "--service-data", f"fcd2={SEALED}"])
    assert code == 0
    assert [r["value"] for r in json.loads(out)] == [25.06, 50.55]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ([*ATC_ARGS, "--manufacturer-data", "0x004c=0215"], "unknown_format"),
        ([*ATC_ARGS, "--service-data", "181a=A4C1388D18"], "bad_length"),
        (
            [*BTHOME_KEYED[:-2], "--bindkey", "00" * 16, "--service-data", f"fcd2={SEALED}"],
            "auth_failed",
        ),
        (
            [*BTHOME_KEYED, "--service-data", f"fcd2={SEALED}", "--service-data", f"fcd2={SEALED}"],
            "replayed",
        ),
        ([*BTHOME_KEYED, "--service-data", "fcd2=4002CA09"], "plaintext_rejected"),
        (
            ["decode", "--address", "54:48:E6:8F:80:A5", "--service-data", f"fcd2={SEALED}"],
            "key_missing",
        ),
        (
            [
                *ATC_ARGS[:2],
                "A4:C1:38:8D:18:B3",
                "--service-data",
                "181a=A4C1388D18B201122F640CA025",
            ],
            "address_mismatch",
        ),
    ],
)
def test_failures_exit_non_zero_with_reason(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    code, out, err = run(capsys, argv)
    assert code == 1
    assert out == ""
    assert err.startswith(f"edgerun ble decode: {reason}: ")


@pytest.mark.parametrize(
    "argv",
    [
        [*ATC_ARGS],
        [*ATC_ARGS, "--service-data", "181a"],
        [*ATC_ARGS, "--service-data", "181a=XYZ"],
        [*ATC_ARGS, "--service-data", "nonsense=00"],
        [*ATC_ARGS, "--manufacturer-data", "acme=00"],
        [*ATC_ARGS, "--manufacturer-data", "70000=00"],
        ["decode", "--address", "A4:C1", "--service-data", "181a=00"],
        [*ATC_ARGS, "--bindkey", "abc", "--service-data", "181a=00"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, argv)
    assert code == 2
    assert "edgerun ble decode:" in err or "usage:" in err


def test_through_the_edgerun_command() -> None:
    edgerun = Path(sys.executable).with_name("edgerun")
    proc = subprocess.run(
        [str(edgerun), "ble", *ATC_ARGS, "--service-data", "181a=B2188D38C1A4590AAD13B6091F1E05"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["value"] == 26.49
