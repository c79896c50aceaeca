"""Command line: ``python -m klaw_wire inspect FILE`` and ``python -m klaw_wire schema``.

``inspect FILE`` (``-`` reads standard input) prints each length-prefixed envelope of a
captured stream as one JSON line: the message type, the kind by name, the header fields,
then the message's own fields, with ``Raw`` payloads, metadata and details decoded
generically. Bytes values are shown as ``{"$bytes": "<base64>"}`` and MessagePack
extensions as ``{"$ext": <code>, "data": "<base64>"}``; map keys that are not strings are
shown as their JSON text. Bad input (unreadable file, malformed frame or envelope) prints
one error line naming the frame and its byte offset to standard error and exits with
status 1, after the lines of the frames before it; never a traceback.

``schema [MODULE:CLASS]`` prints the JSON Schema (2020-12) of every envelope, or of a
``DataMessage`` whose payload is the named type (imported from the current directory
first, like ``python -c 'import MODULE'`` would); see :func:`klaw_wire.json_schema`. A
type that cannot be imported or described exits with status 1.

A usage error exits with status 2, Ctrl-C with 130. :func:`main` takes the arguments and
returns the exit status, so other command lines (``klaw wire ...``) can reuse it.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

import msgspec

from klaw_wire._json_schema import json_schema
from klaw_wire.codec import get_codec_pool
from klaw_wire.errors import _DECODE_FAILURES, FrameTooLargeError, WireDecodeError, _decode_error
from klaw_wire.framing import DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_SIZE
from klaw_wire.wire import (
    Ack,
    ControlMessage,
    DataMessage,
    Heartbeat,
    MessageKind,
    WireEnvelope,
    WireError,
)

__all__ = ["main"]

_GENERIC: Final = msgspec.msgpack.Decoder()
_JSON: Final = msgspec.json.Encoder()


class _CommandError(Exception):
    """Bad input: reported as one line, exit status 1."""


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m klaw_wire") -> int:
    """Run the command line.

    Args:
        argv: The arguments after the program name (``sys.argv[1:]`` when ``None``),
            for example ``["inspect", "capture.bin"]``.
        prog: The program name shown in usage and error lines.

    Returns:
        The exit status: 0 on success, 1 for bad input, 2 for a usage error.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Tools for klaw wire data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="print each framed envelope of a file as one JSON line",
        description="Print each length-prefixed envelope of FILE as one JSON line.",
    )
    inspect.add_argument("file", metavar="FILE", help="captured frames; '-' reads stdin")
    inspect.add_argument(
        "--max-frame-size",
        type=int,
        default=DEFAULT_MAX_FRAME_SIZE,
        metavar="BYTES",
        help="refuse frames longer than this (default: 16 MiB)",
    )
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the envelopes, or of a data message of a payload type",
        description=(
            "Print the JSON Schema (2020-12) of every klaw-wire envelope, or of a "
            "DataMessage whose payload is MODULE:CLASS."
        ),
    )
    schema.add_argument(
        "payload_type",
        nargs="?",
        type=_type_name,
        metavar="MODULE:CLASS",
        help="a payload type, such as myservice.events:Order",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "schema":
            return _schema(args.payload_type)
        return _inspect(args.file, args.max_frame_size)
    except _CommandError as exc:
        print(f"{prog} {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (e.g. piped into `head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def _inspect(path: str, max_frame_size: int) -> int:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise _CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
    codec = get_codec_pool()
    for index, offset, body in _frames(data, max_frame_size):
        try:
            line = _JSON.encode(_render(codec.decode(body)))
        except (WireDecodeError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, WireDecodeError) else "nested too deeply"
            raise _CommandError(f"frame {index} at byte {offset}: {reason}") from exc
        sys.stdout.write(line.decode() + "\n")
    sys.stdout.flush()
    return 0


def _type_name(text: str) -> str:
    module, colon, name = text.partition(":")
    if not (module and colon and name):
        raise argparse.ArgumentTypeError(f"expected MODULE:CLASS, got {text!r}")
    return text


def _schema(payload_type: str | None) -> int:
    resolved = None if payload_type is None else _resolve(payload_type)
    try:
        schema = json_schema(resolved)
    except TypeError as exc:
        raise _CommandError(f"cannot describe {payload_type}: {exc}") from exc
    sys.stdout.write(msgspec.json.format(_JSON.encode(schema), indent=2).decode() + "\n")
    sys.stdout.flush()
    return 0


def _resolve(spec: str) -> Any:
    """Import ``module:Qual.Name``, the current directory first on the path."""
    module_name, _, qualname = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import runs arbitrary code: report whatever it raised
        raise _CommandError(f"cannot import {module_name!r}: {exc}") from exc
    for part in qualname.split("."):
        try:
            found = getattr(found, part)
        except AttributeError as exc:
            raise _CommandError(f"{spec}: {module_name!r} has no {qualname!r}") from exc
    return found


def _frames(data: bytes, max_frame_size: int) -> Iterator[tuple[int, int, bytes]]:
    """Yield (frame number from 1, byte offset, body) for each frame of ``data``."""
    offset, index = 0, 1
    with memoryview(data) as view:
        while offset < len(data):
            where = f"frame {index} at byte {offset}"
            if len(data) - offset < FRAME_HEADER_SIZE:
                raise _CommandError(f"{where}: input ends inside the frame header")
            size = int.from_bytes(view[offset : offset + FRAME_HEADER_SIZE], "big")
            if size > max_frame_size:
                error = FrameTooLargeError(size=size, max_frame_size=max_frame_size)
                raise _CommandError(f"{where}: {error}")
            start = offset + FRAME_HEADER_SIZE
            if start + size > len(data):
                available = len(data) - start
                raise _CommandError(
                    f"{where}: input ends inside the frame ({available} of {size} bytes)"
                )
            yield index, offset, view[start : start + size].tobytes()
            offset, index = start + size, index + 1


def _render(msg: WireEnvelope) -> dict[str, Any]:
    header = msg.header
    record: dict[str, Any] = {
        "type": type(msg).__name__,
        "kind": MessageKind(header.kind).name,
        "version": header.version,
        "channel_id": header.channel_id,
        "seq": header.seq,
        "ts": header.ts,
    }
    if isinstance(msg, DataMessage):
        record["payload"] = _generic(msg.payload)
    elif isinstance(msg, ControlMessage):
        record["action"] = msg.action
        record["metadata"] = _generic(msg.metadata)
    elif isinstance(msg, Heartbeat):
        record["sender_id"] = msg.sender_id
    elif isinstance(msg, Ack):
        record["acked_seq"] = msg.acked_seq
        record["status"] = msg.status
    elif isinstance(msg, WireError):
        record["code"] = msg.code
        record["message"] = msg.message
        record["details"] = _generic(msg.details)
    return record


def _generic(raw: msgspec.Raw) -> Any:
    try:
        value = _GENERIC.decode(raw)
    except _DECODE_FAILURES as exc:
        raise _decode_error(exc) from exc
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    """Turn a generically decoded MessagePack value into something JSON can show."""
    if isinstance(value, dict):
        return {_key_text(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, msgspec.msgpack.Ext):
        return {"$ext": value.code, "data": base64.b64encode(value.data).decode()}
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, datetime | date | time):
        return key.isoformat()
    return _JSON.encode(_jsonable(key)).decode()


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
