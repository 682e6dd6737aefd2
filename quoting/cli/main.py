"""The ``smallfish`` command line. Each subcommand imports its module lazily so the CLI starts fast.

Errors follow :mod:`quoting.cli.contract`: a mistake is one line and exit 2, a runtime failure one line and exit 1,
a traceback only with ``smallfish --debug``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import os
import sys
from collections.abc import Callable, Sequence

from data_lake import settings
from quoting.cli.contract import (
    EXIT_FAILURE,
    OneLineParser,
    UserError,
    address,
    coin_list,
    coin_name,
    existing_root,
    output_root,
    positive_int,
    ws_url,
)

Command = Callable[[argparse.Namespace], int]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    output_root(args.out, "raw-zone root --out", None)
    try:
        config = DemoMarketConfig(coin=args.coin, days=args.days, seed=args.seed, start=args.start)
    except ValueError as exc:
        raise UserError(f"demo market: {exc}") from None
    truth_path = simulate_to_raw(config, args.out)
    print(f"demo market {args.coin}: {args.days} day(s) from {args.start} written under {args.out}")
    print(f"ground truth: {truth_path}")
    return 0


_MAPPING_FLAGS = (
    "time",
    "time_unit",
    "coin_column",
    "coin",
    "recv_time",
    "recv_time_unit",
    "price",
    "size",
    "side",
    "side_convention",
    "trade_id",
    "bid_px",
    "bid_sz",
    "ask_px",
    "ask_sz",
    "bid_n",
    "ask_n",
)


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""Write errors meaning the disk (or the process's file size limit) has no room."""


def _cmd_import(args: argparse.Namespace) -> int:
    from data_lake.importers import import_file
    from data_lake.table_mapping import TABLE_KINDS, InputError, load_mapping

    output_root(args.raw, "raw-zone root --raw", "SMALLFISH_RAW")
    flags = {name: getattr(args, name) for name in _MAPPING_FLAGS}
    try:
        if args.kind in TABLE_KINDS:
            mapping = load_mapping(args.mapping, **flags)
        elif args.mapping is not None or any(v is not None for v in flags.values()):
            raise InputError(f"--mapping and column flags apply to {', '.join(TABLE_KINDS)} only")
        else:
            mapping = None
        damaged = 0
        for path in args.paths:
            report = import_file(path, args.kind, args.raw, mapping)
            print(
                f"{path}: {report.items} items, {report.attributed} to coin files, {report.unattributed} unattributed"
            )
            for reason, count in sorted(report.reasons.items()):
                print(f"  unattributed, {reason}: {count}")
            if report.damage:
                damaged += 1
                print(
                    f"smallfish import: error: {path}: {report.damage} (the part before it was imported)",
                    file=sys.stderr,
                )
    except OSError as exc:
        if exc.errno in _NO_ROOM:  # a runtime failure of the disk, not a mistake in the command
            raise UserError(
                f"out of disk space (or over the file size limit) writing the raw zone {args.raw}: "
                f"{exc.strerror}; the raw files keep what they held",
                EXIT_FAILURE,
            ) from None
        raise UserError(str(exc)) from None
    except InputError as exc:
        raise UserError(str(exc)) from None
    print(f"raw zone: {args.raw} (unattributed items are kept in _unattributed.jsonl files)")
    return 1 if damaged else 0


def _hours(text: str) -> tuple[int, ...]:
    """UTC hours as ``9``, ``0-5`` or ``0-5,12,20-23``."""
    hours: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            hours.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hours (e.g. 9, 0-5,12): {text!r}") from None
    if not hours or not hours <= set(range(24)):
        raise argparse.ArgumentTypeError(f"hours must lie in 0-23: {text!r}")
    return tuple(sorted(hours))


def _cmd_download(args: argparse.Namespace) -> int:
    try:
        from data_lake import archive_download as archive
    except ImportError as exc:
        raise SystemExit(f"smallfish download needs boto3 and tqdm ({exc}): pip install -e '.[production]'") from None

    if args.end and args.end < args.start:
        print(f"smallfish download: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    coins = frozenset(c for c in args.coins.split(",") if c) if args.coins else None
    days = archive.days_between(args.start, args.end or args.start)
    selection = archive.Selection(tuple(dict.fromkeys(args.datasets)), days, args.hours, coins)
    clients = archive.s3_clients(args.endpoint_url)
    try:
        plan = archive.plan(clients, selection, args.downloads, args.raw)
    except archive.ArchiveError as exc:
        print(f"smallfish download: {exc}", file=sys.stderr)
        return 2
    print(archive.describe(plan), flush=True)
    if args.dry_run:
        print("dry run: nothing downloaded")
        return 0
    report = archive.run(plan, clients, args.downloads, args.raw, keep=args.keep_downloads)
    print(archive.summary(report))
    print(f"raw zone: {args.raw}")
    return 1 if report.failed else 0


def _add_mapping_arguments(imp: argparse.ArgumentParser) -> None:
    from data_lake.table_mapping import SIDE_CONVENTIONS, TIME_UNITS

    group = imp.add_argument_group(
        "column mapping (trades-table, book-table)",
        "input column names; a --mapping file (.json or .toml, keys = the long option names with _) is read first and "
        "these flags override it. Book level columns are templates with {i} (bid_px_{i}, bids[{i}].price), "
        "best level first.",
    )
    group.add_argument("--mapping", help="mapping file (.json or .toml)")
    group.add_argument("--time", help="event time column (default: time)")
    group.add_argument("--time-unit", choices=TIME_UNITS, help="epoch unit of the time column, or iso (default: ms)")
    group.add_argument("--coin-column", help="coin column")
    group.add_argument("--coin", type=coin_name, help="one coin for every row (instead of --coin-column)")
    group.add_argument("--recv-time", help="receive time column (default: none, the event time is used)")
    group.add_argument(
        "--recv-time-unit", choices=TIME_UNITS, help="unit of the receive time column (default: --time-unit)"
    )
    group.add_argument("--price", help="trade price column (default: px)")
    group.add_argument("--size", help="trade size column (default: sz)")
    group.add_argument("--side", help="aggressor side column (default: side)")
    group.add_argument(
        "--side-convention",
        choices=tuple(SIDE_CONVENTIONS),
        help="how the side column names the aggressor: buy/sell, B/A, bid/ask (bid = buy), +1/-1, or "
        "buyer-maker (true = the buyer rested, so the taker sold)",
    )
    group.add_argument("--trade-id", help="trade id column (default: none, ids are derived)")
    for side in ("bid", "ask"):
        group.add_argument(f"--{side}-px", help=f"{side} price template (default: {side}_px_{{i}})")
        group.add_argument(f"--{side}-sz", help=f"{side} size template (default: {side}_sz_{{i}})")
        group.add_argument(f"--{side}-n", help=f"{side} order-count template (default: none)")


def _cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from data_lake.lake import Lake

    try:
        from data_lake.export_hftbacktest import book_snapshots, event_counts, hftbacktest_events, tick_and_lot
    except ImportError as exc:
        print(
            f"smallfish export: error: hftbacktest is needed ({exc}); pip install 'smallfish[reference]'",
            file=sys.stderr,
        )
        return 2

    lake = Lake(existing_root(args.lake, "lake root --lake", "SMALLFISH_LAKE"))
    book = book_snapshots(lake.read_partition("book", args.coin, args.date))
    trades = lake.read_partition("trades", args.coin, args.date)
    if book.height == 0 and trades.height == 0:
        print(
            f"smallfish export: error: no l2Book snapshots or trades for {args.coin} on {args.date} in {lake.root}",
            file=sys.stderr,
        )
        return 2
    seen_tick, seen_lot = tick_and_lot(book, trades)
    tick, lot = args.tick_size or seen_tick, args.lot_size or seen_lot
    events = hftbacktest_events(book, trades, tick, lot, args.feed_latency_ms)
    out = args.out if args.out.endswith(".npz") else f"{args.out}.npz"  # numpy's own rule
    np.savez_compressed(out, data=events)
    counts = ", ".join(f"{name} {count:,}" for name, count in event_counts(events).items())
    print(f"{out}: {events.shape[0]:,} events ({counts}) from {book.height:,} snapshots and {trades.height:,} trades")
    print(
        f"tick size {tick:g}, lot size {lot:g} (give the same to BacktestAsset); local time: "
        + ("receive time as captured" if args.feed_latency_ms is None else f"event time + {args.feed_latency_ms:g} ms")
    )
    return 0


def _cmd_quote(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from quoting.cli.quote import config_from_args, quote_async
    from quoting.runtime.api_key import ApiKeyError

    existing_root(args.lake, "lake root --lake", "SMALLFISH_LAKE")
    output_root(args.raw, "raw-zone root --raw (the quoter's log)", "SMALLFISH_RAW")
    replay = args.feed.removeprefix("replay:") if args.feed.startswith("replay:") else None
    if replay is not None and not os.path.exists(replay):
        raise UserError(f"--feed replay:{replay}: no such file or directory")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(quote_async(config))
    except ApiKeyError as exc:
        raise UserError(str(exc)) from None


def _cmd_screen(args: argparse.Namespace) -> int:
    from quoting.cli.screen import screen_main

    print(screen_main(existing_root(args.lake, "lake root --lake", "SMALLFISH_LAKE"), args.date, args.top))
    return 0


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from quoting.cli.diagnose import diagnose_main

    text, code = diagnose_main(args.lake, args.coin, args.date)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def _cmd_params(args: argparse.Namespace) -> int:
    import quoting.cli.params as params_cli
    from data_lake.param_registry import NoPromotedSet, UnknownParameterSet
    from data_lake.param_schema import InvalidParameterSet

    lake = existing_root(args.lake, "lake root --lake", "SMALLFISH_LAKE")
    if args.action == "promote" and not (args.param_set_id and args.reason and args.reason.strip()):
        raise UserError("params promote needs --id ID and --reason TEXT (why a human overrides the gate)")
    try:
        if args.action == "show":
            print(params_cli.params_show(lake, args.coin))
        elif args.action == "promote":
            print(params_cli.params_promote(lake, args.coin, args.param_set_id, args.reason))
        else:
            print(params_cli.params_rollback(lake, args.coin))
    except (InvalidParameterSet, NoPromotedSet, UnknownParameterSet) as exc:
        raise UserError(f"{exc}; see `smallfish params show --coin {args.coin}`") from None
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    import logging

    from quoting.capture.recorder import MAINNET_WS_URL, record_main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    output_root(args.out, "raw-zone root --out", "SMALLFISH_RAW")
    return record_main(args.coins, args.out, args.address, args.ws_url or MAINNET_WS_URL, leaders=args.with_leaders)


def _cmd_vacuum(args: argparse.Namespace) -> int:
    from data_lake.lake import Lake
    from data_lake.vacuum import describe, vacuum_lake

    results = vacuum_lake(Lake(args.lake), args.retention_hours)
    print(describe(results))
    return 1 if any(r.error for r in results) else 0


def _retention(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number of hours >= 0: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="smallfish", description=__doc__)
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of an error (anywhere on the line)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="generate the demo market's raw captures and ground truth")
    sim.add_argument("--coin", type=coin_name, default="DEMO")
    sim.add_argument("--days", type=positive_int, default=1)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--start", type=_date, default=dt.date(2026, 1, 1), help="first UTC day (YYYY-MM-DD)")
    sim.add_argument("--out", required=True, help="raw-zone root to write into")
    sim.set_defaults(func=_cmd_simulate)

    from data_lake.importers import KINDS

    imp = sub.add_parser(
        "import",
        help="sort downloaded files (Hyperliquid archive, node, API, historical CSV, or any "
        "trades/book table under a column mapping) into the raw zone",
    )
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("paths", nargs="+")
    imp.add_argument("--raw", default=settings.raw_root(), help="raw-zone root (default $SMALLFISH_RAW or ./raw)")
    _add_mapping_arguments(imp)
    imp.set_defaults(func=_cmd_import)

    dl = sub.add_parser(
        "download",
        help="fetch Hyperliquid's S3 history (requester pays) into the raw zone: lists and "
        "prints the total first, resumes what is partly downloaded, skips what is imported",
    )
    dl.add_argument(
        "datasets",
        nargs="+",
        choices=("l2book", "asset-ctxs", "node-trades", "node-fills", "node-fills-by-block"),
        help="l2book and asset-ctxs from s3://hyperliquid-archive; node-* from s3://hl-mainnet-node-data",
    )
    dl.add_argument("--start", type=_date, required=True, help="first UTC day (YYYY-MM-DD)")
    dl.add_argument("--end", type=_date, help="last UTC day, inclusive (default: --start)")
    dl.add_argument(
        "--hours", type=_hours, default=tuple(range(24)), help="UTC hours of hourly files, e.g. 0-5,12 (default: all)"
    )
    dl.add_argument(
        "--coins",
        help="comma-separated coins of l2book files (default: every coin); node and asset-ctxs "
        "files hold every coin and are imported whole",
    )
    dl.add_argument("--raw", default=settings.raw_root(), help="raw-zone root (default $SMALLFISH_RAW or ./raw)")
    dl.add_argument(
        "--downloads",
        default=os.environ.get("SMALLFISH_DOWNLOADS", "downloads"),
        help="where objects are downloaded and imported.jsonl records what is done "
        "(default $SMALLFISH_DOWNLOADS or ./downloads)",
    )
    dl.add_argument("--keep-downloads", action="store_true", help="keep each downloaded object after it is imported")
    dl.add_argument(
        "--endpoint-url",
        default=os.environ.get("SMALLFISH_ARCHIVE_ENDPOINT_URL"),
        help="another S3 server (default $SMALLFISH_ARCHIVE_ENDPOINT_URL, else AWS; AWS_ENDPOINT_URL is not used)",
    )
    dl.add_argument("--dry-run", action="store_true", help="list and print the totals only")
    dl.set_defaults(func=_cmd_download)

    exp = sub.add_parser("export", help="write a coin-day of the lake for another tool (hftbacktest's event array)")
    exp.add_argument("format", choices=("hftbacktest",))
    exp.add_argument("--coin", type=coin_name, required=True)
    exp.add_argument("--date", type=_date, required=True, help="UTC day (YYYY-MM-DD)")
    exp.add_argument("--out", required=True, help="output .npz file (key 'data')")
    exp.add_argument("--lake", default=settings.lake_root(), help="lake root (default $SMALLFISH_LAKE or ./lake)")
    exp.add_argument(
        "--tick-size", type=float, help="price grid for matching levels (default: the finest the day's prices show)"
    )
    exp.add_argument("--lot-size", type=float, help="size grid (default: the finest the day's sizes show)")
    exp.add_argument(
        "--feed-latency-ms", type=float, help="local time = event time + this (default: the captured receive time)"
    )
    exp.set_defaults(func=_cmd_export)

    rec = sub.add_parser(
        "record", help="capture trades, l2Book, bbo, activeAssetCtx (and user streams) into the raw zone"
    )
    rec.add_argument("--coins", type=coin_list, required=True, help="comma-separated coins, e.g. BTC,xyz:NVDA")
    rec.add_argument("--out", default=settings.raw_root(), help="raw-zone root")
    rec.add_argument("--address", type=address, help="also record userFills/orderUpdates for this address")
    rec.add_argument("--ws-url", type=ws_url, help="WebSocket URL (default: Hyperliquid mainnet)")
    rec.add_argument(
        "--with-leaders",
        action="store_true",
        help="also record each coin's lead-lag leaders ($SMALLFISH_LEADERS, default BTC,ETH)",
    )
    rec.set_defaults(func=_cmd_record)

    from quoting.cli.quote import add_quote_arguments

    quo = sub.add_parser("quote", help="quote one coin with the promoted parameter set (paper or live)")
    add_quote_arguments(quo)
    quo.set_defaults(func=_cmd_quote)

    scr = sub.add_parser("screen", help="print the ranked market screen of a day (niche selection)")
    scr.add_argument("--date", type=_date, help="UTC day (default: the latest screened)")
    scr.add_argument("--top", type=positive_int)
    scr.add_argument("--lake", default=settings.lake_root())
    scr.set_defaults(func=_cmd_screen)

    dia = sub.add_parser(
        "diagnose",
        help="print a coin's component verdicts (add / keep simple / no fix / untested), "
        "largest weakness first, with each row's reason",
    )
    dia.add_argument("--coin", required=True)
    dia.add_argument("--date", type=_date, help="UTC day of the nightly run (default: the latest with verdicts)")
    dia.add_argument("--lake", default=settings.lake_root(), help="lake root (default $SMALLFISH_LAKE or ./lake)")
    dia.set_defaults(func=_cmd_diagnose)

    par = sub.add_parser("params", help="show, promote or roll back the promoted parameter set of a coin")
    par.add_argument("action", choices=("show", "promote", "rollback"))
    par.add_argument("--coin", type=coin_name, required=True)
    par.add_argument("--id", dest="param_set_id", help="parameter set id (promote)")
    par.add_argument("--reason", help="why a human overrides the gate (promote)")
    par.add_argument("--lake", default=settings.lake_root(), help="lake root (default $SMALLFISH_LAKE or ./lake)")
    par.set_defaults(func=_cmd_params)

    from data_lake.vacuum import DEFAULT_RETENTION_HOURS

    vac = sub.add_parser(
        "vacuum",
        help="compact every lake table and delete the files no version within the retention "
        "needs; prints bytes before/after",
    )
    vac.add_argument(
        "--retention-hours",
        type=_retention,
        default=DEFAULT_RETENTION_HOURS,
        help=f"keep what versions of the last H hours need, for time travel (default {DEFAULT_RETENTION_HOURS}, "
        "one week; below the longest run it may delete a running writer's files)",
    )
    vac.add_argument("--lake", default=settings.lake_root(), help="lake root (default $SMALLFISH_LAKE or ./lake)")
    vac.set_defaults(func=_cmd_vacuum)
    return parser


_MAX_FAILURE_CHARS = 300


def _one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line; cut at ``limit`` characters (library errors can carry whole backtraces)."""
    line = " ".join(text.split())
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 1 runtime failure, 2 usage or configuration mistake)."""
    words = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in words  # anywhere on the line, and known before parsing so that parse errors obey it too
    words = [w for w in words if w != "--debug"]
    prog = "smallfish"
    try:
        parser = build_parser()
        args = parser.parse_args(words)
        prog = f"smallfish {args.command}"
        func: Command = args.func
        return func(args)
    except UserError as exc:
        if debug:
            raise
        print(f"{exc.prog or prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # --help, or a subcommand that exits by itself
        if isinstance(exc.code, str):
            print(f"{prog}: error: {_one_line(exc.code)}", file=sys.stderr)
            return EXIT_FAILURE
        return exc.code or 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(
            f"{prog}: failed: {type(exc).__name__}: {_one_line(str(exc), _MAX_FAILURE_CHARS)} "
            "(`smallfish --debug ...` shows where)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
