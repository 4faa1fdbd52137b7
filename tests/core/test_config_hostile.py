"""check-config refuses hostile values (issue 24 defects 7 and 8, issue 17 key paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgerun.cli.main import main
from edgerun.commands.message import Refusal, decode_command
from edgerun.supervisor import EXIT_CONFIG

HOSTILE = {
    "duration_nan": ("[queue]\nmax_age = nan\n", "queue.max_age: a duration must be finite"),
    "duration_inf": ("[queue]\nlive_window = inf\n", "queue.live_window: a duration must be"),
    "commit_nan": ("[queue]\ncommit_interval = nan\n", "queue.commit_interval:"),
    "flush_nan": ("[uplink]\nflush_interval = nan\n", "uplink.flush_interval:"),
    "flush_zero": ("[uplink]\nflush_interval = 0\n", "uplink.flush_interval:"),
    "grace_nan": ("[gateway]\ngrace_period = nan\n", "gateway.grace_period:"),
    "seen_ttl_nan": ("[commands]\nseen_ttl = nan\n", "commands.seen_ttl:"),
    "keepalive_huge": (
        "[uplink]\nkeepalive = 100000\n",
        "uplink.keepalive: must be at least 1 and at most 65535",
    ),
    "will_delay_huge": (
        "[uplink]\nwill_delay = 1e10\n",
        "uplink.will_delay: a duration must be at most",
    ),
    "puback_zero": ("[uplink]\npuback_timeout = 0\n", "uplink.puback_timeout:"),
    "log_level": ("[logging]\nlevel = 'trace'\n", "logging.level: unknown log level 'trace'"),
    "log_component_level": (
        "[logging.components]\n'edgerun.queue' = 'loud'\n",
        "logging.components: unknown log level 'loud'",
    ),
    "gateway_plus": ("[gateway]\nid = '+'\n", "gateway.id: "),
    "gateway_hash": ("[gateway]\nid = '#'\n", "gateway.id: "),
    "gateway_slash": ("[gateway]\nid = 'a/b'\n", "gateway.id: "),
    "gateway_empty": ("[gateway]\nid = ''\n", "gateway.id: "),
    "gateway_nul": ('[gateway]\nid = "a\\u0000b"\n', "gateway.id: "),
    "commands_prefix_plus": ("[commands]\ntopic_prefix = '+'\n", "commands.topic_prefix: "),
    "uplink_prefix_empty_level": ("[uplink]\ntopic_prefix = 'a//b'\n", "uplink.topic_prefix: "),
    "url_key_path": ("[uplink]\nurl = 'http://x'\n", "uplink.url: "),
    "url_list_key_path": ("[uplink]\nurl = ['mqtt://a', 'ftp://b']\n", "uplink.url[1]: "),
    "deep_toml": ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
}


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cfg = tmp_path / "edgerun.toml"
    cfg.write_text(text, encoding="utf-8")
    code = main(["check-config", "-c", str(cfg)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_value_is_refused_with_key_path(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = HOSTILE[case]
    code, err = _check(tmp_path, text, capsys)
    assert code == EXIT_CONFIG, err
    assert expected in err
    assert "Traceback" not in err


def test_url_credentials_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _check(tmp_path, "[uplink]\nurl = 'mqtt://bob:hunter2@broker:1883'\n", capsys)
    assert code == EXIT_CONFIG
    assert "uplink.url: " in err
    assert "credentials" in err
    assert "hunter2" not in err


def test_url_credentials_not_printed_in_other_url_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _check(tmp_path, "[uplink]\nurl = 'http://bob:hunter2@broker'\n", capsys)
    assert code == EXIT_CONFIG
    assert "hunter2" not in err


def test_deeply_nested_command_args_are_malformed() -> None:
    payload = b'{"id":"a","action":"set","args":{"x":' + b"[" * 1000 + b"]" * 1000 + b"}}"
    with pytest.raises(Refusal) as info:
        decode_command(payload)
    assert info.value.reason == "malformed"
