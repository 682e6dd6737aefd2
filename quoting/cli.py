"""The ``smallfish`` command line. Each subcommand imports its module lazily so the CLI starts fast."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    config = DemoMarketConfig(coin=args.coin, days=args.days, seed=args.seed, start=args.start)
    truth_path = simulate_to_raw(config, args.out)
    print(f"demo market {args.coin}: {args.days} day(s) from {args.start} written under {args.out}")
    print(f"ground truth: {truth_path}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from data_lake.importers import import_file

    for path in args.paths:
        report = import_file(path, args.kind, args.raw)
        print(f"{path}: {report.items} items, {report.attributed} to coin files, {report.unattributed} unattributed")
        for reason, count in sorted(report.reasons.items()):
            print(f"  unattributed, {reason}: {count}")
    print(f"raw zone: {args.raw} (unattributed items are kept in _unattributed.jsonl files)")
    return 0


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


def _cmd_quote(args: argparse.Namespace) -> int:
    import asyncio

    from quoting.quoter import config_from_args, quote_async

    return asyncio.run(quote_async(config_from_args(args)))


def _cmd_screen(args: argparse.Namespace) -> int:
    from quoting.screen_cli import screen_main

    print(screen_main(args.lake, args.date, args.top))
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from quoting import params_cli

    if args.action == "show":
        print(params_cli.params_show(args.lake, args.coin))
    elif args.action == "promote":
        if not args.param_set_id or not args.reason:
            raise SystemExit("params promote needs --id and --reason")
        print(params_cli.params_promote(args.lake, args.coin, args.param_set_id, args.reason))
    else:
        print(params_cli.params_rollback(args.lake, args.coin))
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    import logging

    from quoting.recorder import MAINNET_WS_URL, record_main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    coins = [c for c in args.coins.split(",") if c]
    return record_main(coins, args.out, args.address, args.ws_url or MAINNET_WS_URL)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallfish", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="generate the demo market's raw captures and ground truth")
    sim.add_argument("--coin", default="DEMO")
    sim.add_argument("--days", type=int, default=1)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--start", type=_date, default=dt.date(2026, 1, 1), help="first UTC day (YYYY-MM-DD)")
    sim.add_argument("--out", required=True, help="raw-zone root to write into")
    sim.set_defaults(func=_cmd_simulate)

    imp = sub.add_parser("import", help="sort downloaded Hyperliquid files (archive, node, API fills) into the raw zone")
    imp.add_argument("kind", help="archive-l2book, node-trades, node-fills, node-fills-by-block, user-fills, asset-ctxs, "
                     "meta, all-perp-metas, perp-dexs, meta-and-asset-ctxs")
    imp.add_argument("paths", nargs="+")
    imp.add_argument("--raw", default=os.environ.get("SMALLFISH_RAW", "raw"), help="raw-zone root (default $SMALLFISH_RAW or ./raw)")
    imp.set_defaults(func=_cmd_import)

    dl = sub.add_parser("download", help="fetch Hyperliquid's S3 history (requester pays) into the raw zone: lists and "
                        "prints the total first, resumes what is partly downloaded, skips what is imported")
    dl.add_argument("datasets", nargs="+", choices=("l2book", "asset-ctxs", "node-trades", "node-fills", "node-fills-by-block"),
                    help="l2book and asset-ctxs from s3://hyperliquid-archive; node-* from s3://hl-mainnet-node-data")
    dl.add_argument("--start", type=_date, required=True, help="first UTC day (YYYY-MM-DD)")
    dl.add_argument("--end", type=_date, help="last UTC day, inclusive (default: --start)")
    dl.add_argument("--hours", type=_hours, default=tuple(range(24)), help="UTC hours of hourly files, e.g. 0-5,12 (default: all)")
    dl.add_argument("--coins", help="comma-separated coins of l2book files (default: every coin); node and asset-ctxs "
                    "files hold every coin and are imported whole")
    dl.add_argument("--raw", default=os.environ.get("SMALLFISH_RAW", "raw"), help="raw-zone root (default $SMALLFISH_RAW or ./raw)")
    dl.add_argument("--downloads", default=os.environ.get("SMALLFISH_DOWNLOADS", "downloads"),
                    help="where objects are downloaded and imported.jsonl records what is done (default $SMALLFISH_DOWNLOADS or ./downloads)")
    dl.add_argument("--keep-downloads", action="store_true", help="keep each downloaded object after it is imported")
    dl.add_argument("--endpoint-url", default=os.environ.get("SMALLFISH_ARCHIVE_ENDPOINT_URL"),
                    help="another S3 server (default $SMALLFISH_ARCHIVE_ENDPOINT_URL, else AWS; AWS_ENDPOINT_URL is not used)")
    dl.add_argument("--dry-run", action="store_true", help="list and print the totals only")
    dl.set_defaults(func=_cmd_download)

    rec = sub.add_parser("record", help="capture trades, l2Book, bbo, activeAssetCtx (and user streams) into the raw zone")
    rec.add_argument("--coins", required=True, help="comma-separated coins, e.g. BTC,xyz:NVDA")
    rec.add_argument("--out", default=os.environ.get("SMALLFISH_RAW", "raw"), help="raw-zone root")
    rec.add_argument("--address", help="also record userFills/orderUpdates for this address")
    rec.add_argument("--ws-url", help="WebSocket URL (default: Hyperliquid mainnet)")
    rec.set_defaults(func=_cmd_record)

    from quoting.quoter import add_quote_arguments

    quo = sub.add_parser("quote", help="quote one coin with the promoted parameter set (paper or live)")
    add_quote_arguments(quo)
    quo.set_defaults(func=_cmd_quote)

    scr = sub.add_parser("screen", help="print the ranked market screen of a day (niche selection)")
    scr.add_argument("--date", type=_date, help="UTC day (default: the latest screened)")
    scr.add_argument("--top", type=int)
    scr.add_argument("--lake", default=os.environ.get("SMALLFISH_LAKE", "lake"))
    scr.set_defaults(func=_cmd_screen)

    par = sub.add_parser("params", help="show, promote or roll back the promoted parameter set of a coin")
    par.add_argument("action", choices=("show", "promote", "rollback"))
    par.add_argument("--coin", required=True)
    par.add_argument("--id", dest="param_set_id", help="parameter set id (promote)")
    par.add_argument("--reason", help="why a human overrides the gate (promote)")
    par.add_argument("--lake", default=os.environ.get("SMALLFISH_LAKE", "lake"), help="lake root (default $SMALLFISH_LAKE or ./lake)")
    par.set_defaults(func=_cmd_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
