"""The ``klaw`` command line: ``demo``, ``bench``, ``channels``, ``config`` and ``wire``.

Every subcommand has ``--help``. Errors are one line on standard error and a non-zero
exit status (1 for a failure, 2 for a usage error, 130 when interrupted, 143 when
SIGTERM stopped a command that runs channels, as Ctrl-C does), never a traceback.
``klaw config ...`` is klaw-config's command line and ``klaw wire ...`` klaw-wire's,
under the ``klaw`` name.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import NoReturn

from klaw_ray.cli._signals import run, terminated

__all__ = ["main"]

_DESCRIPTION = "klaw: typed, versioned messaging for Python services on Ray."


class _UsageError(Exception):
    """The arguments are wrong: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _build_parser() -> _Parser:
    parser = _Parser(prog="klaw", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="run a typed pipeline of two stages and report what it measured",
        description=(
            "Producers send Order records into a klaw channel, a 'price' stage and a "
            "'total' stage turn them into invoices, consumers aggregate those, and a table "
            "reports throughput, wire bytes, latency, each stage's figures and an "
            "exactly-once check. With no configuration the Ray backend starts an "
            "embedded local Ray instance (listening on 127.0.0.1 only); with "
            "KLAW_RAY_ADDRESS (or ray.address in a KLAW_CONFIG file) it joins that cluster."
        ),
    )
    demo.add_argument("--backend", choices=("ray", "local"), default="ray")
    demo.add_argument("--messages", type=_positive, default=20_000, metavar="N")
    demo.add_argument("--producers", type=_positive, default=2, metavar="P")
    demo.add_argument("--consumers", type=_positive, default=1, metavar="C")
    demo.add_argument("--capacity", type=_positive, default=1024, metavar="K")
    demo.add_argument(
        "--workers", type=_positive, default=1, metavar="W", help="workers of each stage"
    )

    bench = commands.add_parser(
        "bench",
        help="compare klaw's codec and channels with their baselines, as ratios",
        description=(
            "Runs the codec against raw msgspec, pydantic v2 and pickle, the local channel "
            "against asyncio.Queue, and the Ray channel against ray.util.queue.Queue, in "
            "one process, and prints the ratios."
        ),
    )
    bench.add_argument("--quick", action="store_true", help="fewer repetitions")
    bench.add_argument("--no-ray", action="store_true", help="skip the Ray comparisons")
    bench.add_argument("--json", metavar="FILE", help="also write the figures as JSON")

    from klaw_ray.cli._channels import add_channels_parser  # noqa: PLC0415 - rich, no Ray

    add_channels_parser(commands)

    for name, summary in (
        ("config", "check, show or write a klaw configuration file (klaw config --help)"),
        ("wire", "inspect captured klaw-wire frames (klaw wire --help)"),
    ):
        forwarded = commands.add_parser(name, help=summary, add_help=False)
        forwarded.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from klaw_config import load_config  # noqa: PLC0415 - keep `klaw --help` fast

    config = load_config()  # a bad configuration fails before anything starts
    # The first line comes before anything slow is imported or started.
    print(
        f"klaw demo: moving {args.messages:,} orders through a {args.backend} pipeline "
        f"({args.producers} producers, 2 stages of {args.workers} workers, "
        f"{args.consumers} consumers)",
        file=sys.stderr,
        flush=True,
    )
    from klaw_ray.cli._demo import DemoOptions, run_demo  # noqa: PLC0415
    from klaw_ray.cli._progress import Reporter  # noqa: PLC0415

    options = DemoOptions(
        backend=args.backend,
        messages=args.messages,
        producers=args.producers,
        consumers=args.consumers,
        capacity=args.capacity,
        workers=args.workers,
    )
    reporter = Reporter()
    report = run(run_demo(options, config, reporter))
    reporter.table(report.table())
    return 0 if report.exactly_once else 1


def _bench(args: argparse.Namespace) -> int:
    from klaw_ray.cli._bench import run_bench  # noqa: PLC0415 - keep `klaw --help` fast
    from klaw_ray.cli._progress import Reporter  # noqa: PLC0415

    reporter = Reporter()
    report = run_bench(reporter, quick=args.quick, ray=not args.no_ray)
    reporter.table(report.table())
    if args.json:
        report.write_json(args.json)
        reporter.status(f"wrote {args.json}")
    return 0


def _channels(args: argparse.Namespace) -> int:
    from klaw_ray.cli._channels import run_channels  # noqa: PLC0415 - keep `klaw --help` fast

    return run_channels(args)


def _forward(command: str, arguments: Sequence[str]) -> int:
    if command == "config":
        from klaw_config import main as config_main  # noqa: PLC0415

        return config_main(arguments, prog="klaw config")
    from klaw_wire.__main__ import main as wire_main  # noqa: PLC0415

    return wire_main(arguments, prog="klaw wire")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``klaw`` command line.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit status: 0 on success, 1 on failure, 2 on a usage error, 130 when
        interrupted, 143 when ended by SIGTERM.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    try:
        if arguments and arguments[0] in ("config", "wire"):
            return _forward(arguments[0], arguments[1:])
        args = parser.parse_args(arguments)
        commands = {"demo": _demo, "bench": _bench, "channels": _channels}
        return commands[args.command](args)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("klaw: interrupted", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        if not terminated():
            raise
        print("klaw: terminated", file=sys.stderr)
        return 143
    except Exception as exc:  # the one place every failure becomes one line
        print(f"klaw: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
