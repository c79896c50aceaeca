"""``klaw channels``: the named channels of a namespace, live, and the operator controls.

``klaw channels`` joins the Ray cluster at ``--address`` (or ``KLAW_RAY_ADDRESS``, or
``ray.address`` in the configuration file), never starting one, and shows every named
channel of the namespace with its statistics: depth and capacity, values sent and received
per second (from two samples), open and waiting handles, readers per node, and whether it
is paused or closed. ``--watch`` refreshes the table in place (a new table per period
when standard output is not a terminal); ``--json`` prints the same figures as JSON (one
object per line with ``--watch``). ``pause``, ``resume``, ``resize`` and ``close`` send
the control message of that name to one channel's actor (see
:func:`klaw_ray.pause_channel` and the others).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, TextIO

import msgspec
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from klaw_config import KlawConfig, load_config
from klaw_ray.cli._signals import run
from klaw_ray.stats import ChannelStats
from klaw_types import Namespace

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "ChannelRow",
    "ClusterUnreachableError",
    "Sample",
    "add_channels_parser",
    "connect",
    "render_table",
    "rows_between",
    "run_channels",
]

_SAMPLE_GAP: Final = 1.0
"""Seconds between the two samples a single ``klaw channels`` takes its rates from."""
_WATCH_PERIOD: Final = 2.0
"""Seconds between refreshes of ``--watch`` given no value."""
_CONNECT_TIMEOUT: Final = 5.0
"""Seconds to wait for the cluster's address to accept a connection."""
_MAX_CAPACITY: Final = 1_000_000
_PLAIN_WIDTH: Final = 240
"""Columns of the table when standard output is not a terminal (and has no width)."""
_NODE_ID_SHOWN: Final = 8
"""Characters of a Ray node id the table shows (JSON has them whole)."""


class ClusterUnreachableError(Exception):
    """No Ray cluster to look at: no address given, or nothing answers at it.

    Args:
        address: The address tried; ``None`` when none was given.
        reason: Why it could not be used.

    Attributes:
        address: The address tried, or ``None``.
        reason: Why it could not be used.
    """

    def __init__(self, address: str | None, reason: str) -> None:
        self.address = address
        self.reason = reason
        where = "no Ray cluster address" if address is None else f"no Ray cluster at {address}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One channel's line of the view: two samples of its statistics, combined.

    Attributes:
        name: The channel's name.
        capacity: Its capacity; ``None`` for unbounded.
        depth: Values queued.
        leased: Values handed to receivers and not yet acknowledged.
        sent_per_s: Values accepted per second between the samples; ``None`` for a
            channel seen in one sample only.
        received_per_s: Values handed to receivers per second; ``None`` likewise.
        total_sent: Values accepted since the channel was created.
        total_received: Values handed to receivers since then.
        senders: Open sender handles.
        receivers: Open receiver handles.
        waiting_senders: Sends waiting for room in the channel actor.
        waiting_receivers: Receives waiting for a value.
        readers_per_node: Open receivers per Ray node id.
        paused: Whether an operator paused it.
        closed: Whether every sender is closed.
        error: Why its statistics could not be read (then every figure is 0).
    """

    name: str
    capacity: int | None = None
    depth: int = 0
    leased: int = 0
    sent_per_s: float | None = None
    received_per_s: float | None = None
    total_sent: int = 0
    total_received: int = 0
    senders: int = 0
    receivers: int = 0
    waiting_senders: int = 0
    waiting_receivers: int = 0
    readers_per_node: dict[str, int] = field(default_factory=dict)
    paused: bool = False
    closed: bool = False
    error: str = ""

    @property
    def state(self) -> str:
        """``"unreachable"``, ``"closed"``, ``"paused"`` or ``"open"``."""
        if self.error:
            return "unreachable"
        if self.closed:
            return "closed"
        return "paused" if self.paused else "open"


@dataclass(frozen=True, slots=True)
class Sample:
    """The statistics of a namespace's named channels, read at one moment.

    Attributes:
        at: ``time.monotonic()`` once every channel answered.
        stats: Each channel's statistics, by name.
        errors: Why a channel's statistics could not be read, by name.
    """

    at: float
    stats: dict[str, ChannelStats]
    errors: dict[str, str]


def rows_between(before: Sample | None, after: Sample) -> list[ChannelRow]:
    """Combine two samples into rows, sorted by name; rates need a channel in both."""
    rows = [ChannelRow(name, error=error) for name, error in after.errors.items()]
    for name, stats in after.stats.items():
        previous = before.stats.get(name) if before is not None else None
        sent = received = None
        if previous is not None and before is not None and after.at > before.at:
            elapsed = after.at - before.at
            sent = max(0, stats.total_sent - previous.total_sent) / elapsed
            received = max(0, stats.total_received - previous.total_received) / elapsed
        rows.append(
            ChannelRow(
                name=name,
                capacity=stats.capacity,
                depth=stats.size,
                leased=stats.leased,
                sent_per_s=sent,
                received_per_s=received,
                total_sent=stats.total_sent,
                total_received=stats.total_received,
                senders=stats.open_senders,
                receivers=stats.open_receivers,
                waiting_senders=stats.waiting_senders,
                waiting_receivers=stats.waiting_receivers,
                readers_per_node=dict(stats.readers_per_node),
                paused=stats.paused,
                closed=stats.closed,
            )
        )
    return sorted(rows, key=lambda row: row.name)


async def _sample(namespace: str, config: KlawConfig) -> Sample:
    """Every named channel's statistics in ``namespace``, read concurrently."""
    from klaw_ray.ray import ChannelNotFoundError, channel_stats, list_channels  # noqa: PLC0415

    names = await list_channels(namespace, config=config)
    results = await asyncio.gather(
        *(channel_stats(name, namespace=namespace, config=config) for name in names),
        return_exceptions=True,
    )
    at = time.monotonic()
    stats: dict[str, ChannelStats] = {}
    errors: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, ChannelStats):
            stats[name] = result
        elif isinstance(result, ChannelNotFoundError):
            continue  # deleted since it was listed
        elif isinstance(result, Exception):
            errors[name] = f"{type(result).__name__}: {result}".splitlines()[0]
        else:
            raise result  # KeyboardInterrupt, CancelledError: not the channel's doing
    return Sample(at, stats, errors)


def connect(address: str | None, namespace: str) -> str:
    """Join the Ray cluster at ``address`` as a driver in ``namespace``; never start one.

    A ``host:port`` (or ``ray://host:port``) address is tried with a plain TCP
    connection first, so that a wrong address fails within seconds with a clear reason.

    Args:
        address: The cluster's address, ``"auto"`` for the one this machine runs.
        namespace: The Ray namespace to join in.

    Returns:
        The address joined.

    Raises:
        ClusterUnreachableError: ``address`` is ``None``, nothing listens there, or Ray
            refused to join (the cause chained).
    """
    if address is None:
        raise ClusterUnreachableError(
            None,
            "pass --address, or set KLAW_RAY_ADDRESS or ray.address "
            "(klaw channels joins a running cluster; it never starts one)",
        )
    _check_reachable(address)
    import ray  # noqa: PLC0415 - only once a cluster is known to be there

    if ray.is_initialized():
        return address
    try:
        ray.init(
            address=address,
            namespace=namespace,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except Exception as exc:  # Ray raises many unrelated types when it cannot join
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ClusterUnreachableError(address, reason) from exc
    return address


def _check_reachable(address: str) -> None:
    if address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        raise ClusterUnreachableError(
            address, "expected host:port, ray://host:port or auto as the address"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise ClusterUnreachableError(address, f"cannot connect ({exc})") from exc


# --- output ------------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _nodes(readers_per_node: dict[str, int]) -> str:
    return ", ".join(
        f"{node[:_NODE_ID_SHOWN]}:{count}" for node, count in sorted(readers_per_node.items())
    )


def render_table(rows: list[ChannelRow], namespace: str, *, plain: bool) -> Table:
    """The rows as a ``rich`` table; ``plain``: ASCII borders, for output that is no terminal."""
    table = Table(
        title=f"klaw channels in namespace {namespace!r}",
        box=box.ASCII if plain else box.SIMPLE_HEAVY,
        title_justify="left",
        title_style="" if plain else "italic",
    )
    table.add_column("channel", overflow="fold")  # a name is never cut short
    for header in ("depth/capacity", "sent/s", "received/s", "senders", "receivers"):
        table.add_column(header, justify="right")
    for header in ("waiting s/r", "leased"):
        table.add_column(header, justify="right")
    table.add_column("readers per node")
    table.add_column("state")
    for row in rows:
        capacity = "unbounded" if row.capacity is None else f"{row.capacity:,}"
        table.add_row(
            row.name,
            f"{row.depth:,}/{capacity}",
            _rate(row.sent_per_s),
            _rate(row.received_per_s),
            str(row.senders),
            str(row.receivers),
            f"{row.waiting_senders}/{row.waiting_receivers}",
            f"{row.leased:,}",
            _nodes(row.readers_per_node),
            row.state if not row.error else f"unreachable: {row.error}",
        )
    if not rows:
        table.caption = "no named channels"
    return table


def _as_json(rows: list[ChannelRow], namespace: str, address: str, gap: float) -> str:
    channels = [{**asdict(row), "state": row.state} for row in rows]
    document = {"namespace": namespace, "address": address, "interval_s": gap}
    return json.dumps({**document, "channels": channels})


@dataclass(frozen=True, slots=True)
class _View:
    namespace: str
    address: str
    config: KlawConfig
    json: bool
    console: Console
    out: TextIO

    @property
    def plain(self) -> bool:
        return not self.console.is_terminal

    def show(self, rows: list[ChannelRow], gap: float) -> None:
        if self.json:
            print(_as_json(rows, self.namespace, self.address, gap), file=self.out, flush=True)
        else:
            self.console.print(render_table(rows, self.namespace, plain=self.plain))


async def _show_once(view: _View) -> None:
    before = await _sample(view.namespace, view.config)
    await asyncio.sleep(_SAMPLE_GAP)  # rates need a second sample
    view.show(rows_between(before, await _sample(view.namespace, view.config)), _SAMPLE_GAP)


async def _watch(view: _View, period: float) -> None:
    """Refresh until interrupted: in place on a terminal, else one table per period."""
    previous = await _sample(view.namespace, view.config)
    if view.json or view.plain:
        while True:
            await asyncio.sleep(period)
            current = await _sample(view.namespace, view.config)
            view.show(rows_between(previous, current), period)
            previous = current
    first = render_table(rows_between(None, previous), view.namespace, plain=False)
    with Live(first, console=view.console, auto_refresh=False) as live:
        while True:
            await asyncio.sleep(period)
            current = await _sample(view.namespace, view.config)
            table = render_table(rows_between(previous, current), view.namespace, plain=False)
            live.update(table, refresh=True)
            previous = current


# --- the command line ----------------------------------------------------------------------


def _capacity(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= _MAX_CAPACITY:
        raise argparse.ArgumentTypeError(f"must be 1 to {_MAX_CAPACITY:,}, got {value}")
    return value


def _period(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0.1 <= value <= 3600:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0.1 to 3600 seconds, got {text}")
    return value


def _where(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--namespace", metavar="NS", default=default, help="Ray namespace (default: ray.namespace)"
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        default=default,
        help="Ray cluster to join (default: KLAW_RAY_ADDRESS, then ray.address)",
    )


_DESCRIPTION: Final = (
    "Joins the Ray cluster at --address (default: KLAW_RAY_ADDRESS, then ray.address; it "
    "never starts one) and lists the named channels of a namespace with live statistics: "
    "depth and capacity, values sent and received per second (from two samples), open and "
    "waiting handles, readers per node, paused or closed. The actions pause, resume, "
    "resize and close send that control message to one channel's actor."
)

_ACTIONS: Final = {
    "pause": "stop granting room to senders: sends wait, queued values are still delivered",
    "resume": "undo pause: waiting sends proceed",
    "resize": "set the capacity: a larger one lets waiting sends proceed, a smaller one "
    "drops nothing",
    "close": "close every sender: receivers drain what is queued, then see the end",
}


def add_channels_parser(commands: Any) -> None:
    """Add ``channels`` and its subcommands to the ``klaw`` parser's ``commands``."""
    parser = commands.add_parser(
        "channels",
        help="list the named channels of a namespace with live statistics; pause, resume, "
        "resize or close one",
        description=_DESCRIPTION,
    )
    _where(parser, suppress=False)
    parser.add_argument(
        "--watch",
        nargs="?",
        type=_period,
        const=_WATCH_PERIOD,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {_WATCH_PERIOD:g}) until interrupted",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for action, summary in _ACTIONS.items():
        sub = actions.add_parser(action, help=summary, description=summary)
        sub.add_argument("name", metavar="NAME", help="the channel's name")
        if action == "resize":
            sub.add_argument("capacity", type=_capacity, metavar="CAPACITY")
        _where(sub, suppress=True)


_DONE: Final = {"pause": "paused", "resume": "resumed", "resize": "resized", "close": "closed"}


async def _act(args: argparse.Namespace, namespace: str, config: KlawConfig) -> str:
    from klaw_ray.ray import (  # noqa: PLC0415 - keep `klaw --help` fast
        close_channel,
        pause_channel,
        resize_channel,
        resume_channel,
    )

    name: str = args.name
    calls: dict[str, Callable[..., Any]] = {
        "pause": pause_channel,
        "resume": resume_channel,
        "close": close_channel,
    }
    if args.action == "resize":
        await resize_channel(name, args.capacity, namespace=namespace, config=config)
        done = f"resized channel {name!r} to capacity {args.capacity:,}"
    else:
        await calls[args.action](name, namespace=namespace, config=config)
        done = f"{_DONE[args.action]} channel {name!r}"
    return f"{done} (namespace {namespace!r})"


def run_channels(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``klaw channels`` with parsed ``args``; return the exit status (0).

    Raises:
        ClusterUnreachableError: No cluster to join.
        ChannelNotFoundError: An action named a channel that does not exist.
        KeyboardInterrupt: Interrupted (``--watch`` ends so).
    """
    out = sys.stdout if out is None else out
    config = load_config()
    namespace: str = args.namespace or config.ray.namespace
    try:
        msgspec.convert(namespace, Namespace)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid namespace {namespace!r}: {exc}") from exc
    address = connect(args.address or config.ray.address, namespace)
    if args.action is not None:
        print(run(_act(args, namespace, config)), file=out)
        return 0
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal:  # no control codes, and no wrapping at 80 columns
        console = Console(file=out, highlight=False, width=_PLAIN_WIDTH, no_color=True)
    view = _View(namespace, address, config, args.json, console, out)
    if args.watch is None:
        run(_show_once(view))
    else:
        run(_watch(view, args.watch))
    return 0
