"""``smallfish quote``: the GLFT quoter of one coin, paper or live, on Hyperliquid's feed or a replayed capture.

:func:`quote_main` parses the command line, builds the session (:class:`quoting.runtime.session.Quoter`) with its feed
(:mod:`quoting.runtime.feed`), venue (paper: :mod:`quoting.runtime.paper`; live: :mod:`quoting.runtime.live`) and log
(:mod:`quoting.runtime.quote_log`, frame formats there) and runs it until SIGTERM/SIGINT or the end of a replay.
Exit codes: 0 stopped normally, 1 stopped by an error, 2 refused to start (no usable promoted parameter set, bad
options, no usable API key).

Live mode reads the API wallet key from ``SMALLFISH_API_KEY`` or the 0600 file named by ``SMALLFISH_API_KEY_FILE``
(:mod:`quoting.runtime.api_key`) and never logs it; at start every open order of the coin is cancelled and the position
read before anything is quoted; the dead-man switch is armed and refreshed; on exit everything is cancelled and the
switch cleared.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hyperliquid.utils.constants import MAINNET_API_URL

from data_lake import settings
from data_lake.leaders import leaders_of
from quoting.cli.contract import address, coin_name, non_negative_int, positive_float, positive_int, ws_url
from quoting.core.fill_models import FILL_MODELS
from quoting.runtime.api_key import ApiKeyError
from quoting.runtime.feed import ReplayFeed, WsFeed
from quoting.runtime.live import LiveConfig
from quoting.runtime.quote_log import QuoteLog
from quoting.runtime.session import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    NS_PER_MS,
    Feed,
    Quoter,
    QuoterConfig,
)
from quoting.runtime.venue import Venue

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_REFUSED",
    "add_quote_arguments",
    "build_quoter",
    "config_from_args",
    "quote_async",
    "quote_main",
]

log = logging.getLogger(__name__)


def _subscriptions(config: QuoterConfig, user: str | None) -> list[dict[str, Any]]:
    subs: list[dict[str, Any]] = [
        {"type": feed, "coin": coin} for coin in (config.coin, *config.leaders) for feed in ("l2Book", "bbo")
    ]
    if config.mode == "paper":
        subs.append({"type": "trades", "coin": config.coin})
    if user is not None:
        subs += [{"type": "userFills", "user": user}, {"type": "orderUpdates", "user": user}]
    return subs


def build_quoter(config: QuoterConfig) -> Quoter:
    """The quoter with its feed, venue and log (live: builds the SDK clients with the API wallet)."""
    quote_log = QuoteLog(config.raw_root, config.coin)
    if config.mode == "live":
        from hyperliquid.exchange import Exchange
        from hyperliquid.info import Info

        from quoting.runtime.api_key import load_api_wallet
        from quoting.runtime.live import LiveVenue

        wallet = load_api_wallet()
        user = config.account_address or wallet.address
        timeout = config.live.http_timeout_s
        info = Info(config.api_url, skip_ws=True, timeout=timeout)
        exchange = Exchange(
            wallet, config.api_url, meta=info.meta(), spot_meta=info.spot_meta(), account_address=user, timeout=timeout
        )

        def on_event(data: dict[str, Any]) -> None:
            quote_log.write(time.time_ns(), "quoterOrder", data)

        venue: Venue = LiveVenue(config.coin, user, exchange, info, config.live, on_event)
    else:
        from quoting.runtime.paper import PaperVenue

        user = None
        run_id = time.time_ns() // NS_PER_MS
        venue = PaperVenue(config.coin, config.paper_fill_model, config.paper_order_latency_ms, run_id)
    if config.feed.startswith("replay:"):
        feed: Feed = ReplayFeed(config.feed.removeprefix("replay:"), config.coin, config.replay_speed, config.leaders)
    else:
        feed = WsFeed(config.websocket_url, _subscriptions(config, user))
    return Quoter(config, feed, venue, quote_log)


def add_quote_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``smallfish quote`` (for the CLI's subparser)."""
    parser.add_argument("--coin", type=coin_name, required=True)
    parser.add_argument("--mode", required=True, choices=("paper", "live"))
    parser.add_argument("--feed", default="hyperliquid", help="hyperliquid | replay:PATH (raw-zone file or directory)")
    parser.add_argument("--lake", default=settings.lake_root(), help="lake root ($SMALLFISH_LAKE)")
    parser.add_argument("--raw", default=settings.raw_root(), help="raw-zone root for the log")
    parser.add_argument("--api-url", default=MAINNET_API_URL, help="Hyperliquid HTTP API (default mainnet)")
    parser.add_argument("--ws-url", type=ws_url, help="WebSocket URL (default derived from --api-url)")
    parser.add_argument("--account-address", type=address, help="live: account the API wallet trades for")
    parser.add_argument("--max-param-age-s", type=positive_float, default=36 * 3_600.0)
    parser.add_argument("--stale-feed-ms", type=positive_int, default=3_000)
    parser.add_argument("--vol-half-life-s", type=positive_float, default=300.0)
    parser.add_argument("--min-regime-minutes", type=non_negative_int, default=1)
    parser.add_argument("--paper-fill-model", default="queue", choices=sorted(FILL_MODELS))
    parser.add_argument("--paper-order-latency-ms", type=non_negative_int, default=100)
    parser.add_argument("--replay-speed", type=positive_float, help="x real time (default: as fast as possible)")
    parser.add_argument("--dms-horizon-s", type=positive_float, default=120.0)
    parser.add_argument("--dms-refresh-s", type=positive_float, default=60.0)
    parser.add_argument(
        "--leaders",
        type=_leader_list,
        help="coins whose books to follow for a lead-lag set, "
        "comma-separated, empty for none (default: the coin's configured leaders, "
        "$SMALLFISH_LEADERS, else BTC,ETH)",
    )


def _leader_list(text: str) -> tuple[str, ...]:
    """``--leaders``: comma-separated coin names, possibly none."""
    return tuple(coin_name(c) for c in text.split(",") if c)


def config_from_args(args: argparse.Namespace) -> QuoterConfig:
    return QuoterConfig(
        coin=args.coin,
        mode=args.mode,
        feed=args.feed,
        lake_root=Path(args.lake),
        raw_root=Path(args.raw),
        api_url=args.api_url,
        ws_url=args.ws_url,
        account_address=args.account_address,
        max_param_age_s=args.max_param_age_s,
        stale_feed_ms=args.stale_feed_ms,
        vol_half_life_s=args.vol_half_life_s,
        min_regime_minutes=args.min_regime_minutes,
        paper_fill_model=args.paper_fill_model,
        paper_order_latency_ms=args.paper_order_latency_ms,
        replay_speed=args.replay_speed,
        live=LiveConfig(dms_horizon_s=args.dms_horizon_s, dms_refresh_s=args.dms_refresh_s),
        leaders=(
            tuple(c for c in args.leaders if c != args.coin) if args.leaders is not None else leaders_of(args.coin)
        ),
    )


async def quote_async(config: QuoterConfig) -> int:
    """Build and run a quoter until SIGTERM/SIGINT (or the end of a replay)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await build_quoter(config).run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def quote_main(argv: Sequence[str]) -> int:
    """``smallfish quote ...``: parse ``argv`` (without the subcommand), run, return the exit code."""
    parser = argparse.ArgumentParser(prog="smallfish quote", description="GLFT quoter (paper or live)")
    add_quote_arguments(parser)
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(quote_async(config_from_args(args)))
    except (ApiKeyError, ValueError) as exc:
        log.error("smallfish quote: %s", exc)
        return EXIT_REFUSED
    except Exception:
        log.exception("smallfish quote: stopped by an error")
        return EXIT_ERROR
