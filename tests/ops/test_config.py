"""The ``[http]`` table: defaults, accepted bind forms, clear errors."""

from __future__ import annotations

import pytest

from edgerun.config.base import ConfigError, convert
from edgerun.ops.config import BindAddress, HttpConfig, parse_listen


def test_default_is_loopback_and_active() -> None:
    cfg = convert({}, HttpConfig, "http")
    assert cfg.active
    assert cfg.bind == BindAddress("127.0.0.1", 9108)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("127.0.0.1:9108", BindAddress("127.0.0.1", 9108)),
        (":9200", BindAddress("", 9200)),
        ("0.0.0.0", BindAddress("0.0.0.0", 9108)),
        ("[::1]:9300", BindAddress("::1", 9300)),
        ("[::]", BindAddress("::", 9108)),
        ("localhost:1", BindAddress("localhost", 1)),
    ],
)
def test_listen_forms(text: str, want: BindAddress) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"listen": "gateway.local:9108"}, "not an IP address"),
        ({"listen": "::1:9108"}, "brackets"),
        ({"listen": "[::1"}, "missing ']'"),
        ({"listen": "127.0.0.1:99999"}, "port must be"),
        ({"listen": "127.0.0.1:http"}, "port must be"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"max_connections": 0}, "max_connections"),
        ({"listen": 9108}, "expected `str`"),
        ({"lisen": ":9108"}, "unknown key"),
    ],
)
def test_bad_values_are_reported_with_the_table(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        convert(raw, HttpConfig, "http")
    text = str(info.value).replace("`", "")
    assert text.startswith("http")
    assert fragment.replace("`", "") in text


@pytest.mark.parametrize("raw", [{"enabled": False}, {"listen": ""}, {"listen": "  "}])
def test_switched_off(raw: dict[str, object]) -> None:
    assert not convert(raw, HttpConfig, "http").active
