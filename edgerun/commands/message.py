"""The command payload schema and the result payload.

A command is a JSON object ``{"id", "action", "args", "expires_at"}`` (docs/commands.md);
:func:`decode_command` turns raw bytes into a :class:`Command` or raises
:class:`Refusal` with the reason code that goes into the result. The result is a JSON
object built by :func:`encode_result`. JSON is used in both directions because commands
are written by people and by many kinds of datacenter software (``mosquitto_pub`` works).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

#: Command ids: printable, no spaces, short enough to keep in the replay store.
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
#: Action names: lower-case words, as drivers name them (``set``, ``pulse``).
ACTION_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
#: A command's arguments are a handful of scalars; more keys means a broken sender.
MAX_ARGS = 16


class Command(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A validated command."""

    id: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
    action: Annotated[str, msgspec.Meta(pattern=ACTION_PATTERN)]
    args: Annotated[dict[str, Any], msgspec.Meta(max_length=MAX_ARGS)] = {}
    #: Milliseconds since the Unix epoch (UTC) after which the command must not run.
    expires_at: Annotated[int, msgspec.Meta(ge=0)] | None = None


class Refusal(Exception):
    """A command is refused; ``reason`` is the code that goes into the result."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


_decoder = msgspec.json.Decoder(Command)
_ID = re.compile(ID_PATTERN)
_encoder = msgspec.json.Encoder()


def decode_command(payload: bytes) -> Command:
    """Parse and validate a command payload.

    :raises Refusal: ``malformed`` when the bytes are not a JSON object, ``invalid`` when
        the object does not match the schema (the message names the field).
    """
    try:
        return _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise Refusal("invalid", _plain(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise Refusal("malformed", f"not a JSON object: {_plain(str(exc))}") from None
    except RecursionError:
        raise Refusal("malformed", "values are nested too deeply") from None


def peek_id(payload: bytes) -> str | None:
    """Best-effort id of a payload that failed validation, to label its result.

    Returns the ``id`` only when it is itself valid; never raises.
    """
    try:
        raw = msgspec.json.decode(payload)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str) and _ID.match(value):
            return value
    return None


def _plain(message: str) -> str:
    return message.replace("`", "")


class Result(msgspec.Struct, frozen=True):
    """What the gateway reports back for one command."""

    id: str | None
    ok: bool
    reason: str | None = None
    message: str | None = None
    value: Any = None
    driver: str | None = None
    target: str | None = None
    action: str | None = None


def encode_result(result: Result, ts_ms: int) -> bytes:
    """Encode a result as a JSON object; a driver value that JSON cannot hold becomes text."""
    body: dict[str, Any] = {
        "id": result.id,
        "status": "ok" if result.ok else "error",
        "ts": ts_ms,
    }
    for key in ("driver", "target", "action", "reason", "message"):
        value = getattr(result, key)
        if value is not None:
            body[key] = value
    if result.ok and result.value is not None:
        body["result"] = result.value
    try:
        return _encoder.encode(body)
    except (TypeError, ValueError, OverflowError):
        body["result"] = repr(result.value)[:200]
        return _encoder.encode(body)


__all__ = ["MAX_ARGS", "Command", "Refusal", "Result", "decode_command", "encode_result", "peek_id"]
