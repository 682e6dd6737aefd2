"""The fake Hyperliquid answers the official SDK and a plain WebSocket client as the real exchange does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.signing import sign_l1_action
from hyperliquid.utils.types import Cloid
from websockets.asyncio.client import ClientConnection, connect

from tests.fake_hyperliquid import FakeHyperliquid
from tests.fake_hyperliquid.actions import Exchange as FakeExchange
from tests.fake_hyperliquid.venue import Venue

MASTER: LocalAccount = Account.from_key("0x" + "a1" * 32)
AGENT: LocalAccount = Account.from_key("0x" + "b2" * 32)
STRANGER: LocalAccount = Account.from_key("0x" + "c3" * 32)
ALO = {"limit": {"tif": "Alo"}}
IOC = {"limit": {"tif": "Ioc"}}
MISSING = "Order was never placed, already canceled, or filled."
Demo = tuple[Path, Path]


def _bbo(coin: str, bid: str, ask: str, size: str = "80.0") -> dict[str, Any]:
    levels = [{"px": bid, "sz": size, "n": 2}, {"px": ask, "sz": size, "n": 3}]
    return {"channel": "bbo", "data": {"coin": coin, "time": 1, "bbo": levels}}


def _trade(side: str, px: str, sz: str, time_ms: int = 2) -> dict[str, Any]:
    users = ["0x" + "1" * 40, "0x" + "2" * 40]
    trade = {"coin": "DEMO", "side": side, "px": px, "sz": sz, "time": time_ms, "hash": "0x" + "0" * 64, "tid": 7}
    return {"channel": "trades", "data": [{**trade, "users": users}]}


def _request(is_buy: bool, sz: float, px: float, coin: str = "DEMO") -> dict[str, Any]:
    """An SDK order request (post-only)."""
    return {"coin": coin, "is_buy": is_buy, "sz": sz, "limit_px": px, "order_type": ALO, "reduce_only": False}


@pytest.fixture
def fake() -> Iterator[FakeHyperliquid]:
    with FakeHyperliquid(universe=[("DEMO", 2), ("BIG", 0)], idle_timeout_s=60.0) as server:
        server.add_account(MASTER.address, agents=[AGENT.address])
        server.publish(_bbo("DEMO", "24.999", "25.0"))
        yield server


@pytest.fixture
def info(fake: FakeHyperliquid) -> Info:
    return Info(fake.base_url, skip_ws=True, meta=fake.meta(), spot_meta=fake.spot_meta())


def _exchange(fake: FakeHyperliquid, wallet: LocalAccount) -> Exchange:
    return Exchange(wallet, fake.base_url, meta=fake.meta(), spot_meta=fake.spot_meta(), account_address=MASTER.address)


@pytest.fixture
def exchange(fake: FakeHyperliquid) -> Exchange:
    return _exchange(fake, AGENT)


def _statuses(response: dict[str, Any]) -> list[Any]:
    assert response["status"] == "ok", response
    return response["response"]["data"]["statuses"]


def _signed(action: dict[str, Any], nonce: int, wallet: LocalAccount = AGENT) -> dict[str, Any]:
    signature = sign_l1_action(wallet, action, None, nonce, None, False)
    return {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}


def _post(fake: FakeHyperliquid, body: dict[str, Any]) -> Any:
    return requests.post(fake.base_url + "/exchange", json=body, timeout=5).json()


def _order_action(px: str) -> dict[str, Any]:
    order = {"a": 0, "b": True, "p": px, "s": "1", "r": False, "t": ALO}
    return {"type": "order", "orders": [order], "grouping": "na"}


def test_alo_order_rests_is_listed_and_cancels(info: Info, exchange: Exchange) -> None:
    [status] = _statuses(exchange.order("DEMO", True, 1.0, 24.99, ALO))
    oid = status["resting"]["oid"]
    [listed] = info.open_orders(MASTER.address)
    assert (listed["oid"], listed["limitPx"], listed["sz"], listed["side"]) == (oid, "24.99", "1.0", "B")
    assert _statuses(exchange.cancel("DEMO", oid)) == ["success"]
    assert info.open_orders(MASTER.address) == []
    assert _statuses(exchange.cancel("DEMO", oid)) == [{"error": MISSING}]


def test_order_errors_come_back_per_order_inside_an_ok_response(info: Info, exchange: Exchange) -> None:
    orders = [_request(True, 1.0, 25.0), _request(True, 0.3, 24.99), _request(False, 1.0, 25.0101)]
    orders += [_request(False, 1.001, 25.01), _request(False, 1.0, 25.01)]
    bad_alo, small, bad_tick, bad_size, ok = _statuses(exchange.bulk_orders(orders))
    assert bad_alo == {"error": "Post only order would have immediately matched, bbo was 24.999@25.0. asset=0"}
    assert small == {"error": "Order must have minimum value of $10."}
    assert bad_tick == {"error": "Price must be divisible by tick size. asset=0"}
    assert bad_size == {"error": "Order has invalid size."}
    assert [o["oid"] for o in info.open_orders(MASTER.address)] == [ok["resting"]["oid"]]


def test_integer_prices_are_always_valid_and_ioc_takes_the_touch(fake: FakeHyperliquid, exchange: Exchange) -> None:
    fake.publish(_bbo("BIG", "123455", "123456", size="2"))
    [rested] = _statuses(exchange.order("BIG", True, 1, 123400, ALO))
    assert "resting" in rested
    [taken] = _statuses(exchange.order("BIG", True, 5, 123456, IOC))
    assert taken["filled"]["totalSz"] == "2.0" and taken["filled"]["avgPx"] == "123456.0"
    [missed] = _statuses(exchange.order("BIG", True, 1, 123400, IOC))
    assert missed == {"error": "Order could not immediately match against any resting orders. asset=1"}


def test_gtc_rests_or_takes_and_cloid_orders_cancel_by_cloid(info: Info, exchange: Exchange) -> None:
    gtc = {"limit": {"tif": "Gtc"}}
    [rested] = _statuses(exchange.order("DEMO", False, 1.0, 25.01, gtc))
    [crossed] = _statuses(exchange.order("DEMO", True, 100.0, 25.0, gtc))
    assert crossed["filled"] == {"totalSz": "80.0", "avgPx": "25.0", "oid": crossed["filled"]["oid"]}
    open_orders = {o["oid"]: o["sz"] for o in info.open_orders(MASTER.address)}
    assert open_orders == {rested["resting"]["oid"]: "1.0", crossed["filled"]["oid"]: "20.0"}
    cloid = Cloid.from_str("0x" + "00" * 15 + "2a")
    [tagged] = _statuses(exchange.order("DEMO", True, 1.0, 24.9, ALO, cloid=cloid))
    assert tagged["resting"]["cloid"] == cloid.to_raw()
    assert _statuses(exchange.cancel_by_cloid("DEMO", cloid)) == ["success"]
    assert _statuses(exchange.cancel_by_cloid("DEMO", cloid)) == [{"error": MISSING}]


def test_unknown_signer_is_rejected_with_the_recovered_address(info: Info, fake: FakeHyperliquid) -> None:
    response = _exchange(fake, STRANGER).order("DEMO", True, 1.0, 24.99, ALO)
    assert response == {"status": "err", "response": f"User or API Wallet {STRANGER.address.lower()} does not exist."}
    assert info.open_orders(MASTER.address) == []


def test_tampered_or_non_canonical_actions_recover_another_signer(fake: FakeHyperliquid) -> None:
    body = _signed(_order_action("24.99"), fake.now_ms())
    body["action"]["orders"][0]["p"] = "24.98"
    tampered = _post(fake, body)
    assert tampered["status"] == "err" and "does not exist" in tampered["response"]
    trailing_zero = _post(fake, _signed(_order_action("24.990"), fake.now_ms() + 1))
    assert trailing_zero["status"] == "err" and AGENT.address.lower() not in trailing_zero["response"]


def test_reused_and_stale_nonces_are_rejected(fake: FakeHyperliquid) -> None:
    nonce = fake.now_ms()
    body = _signed({"type": "scheduleCancel"}, nonce)
    assert _post(fake, body) == {"status": "ok", "response": {"type": "default"}}
    assert _post(fake, body) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    stale = _post(fake, _signed({"type": "scheduleCancel"}, nonce - 3 * 86_400_000))
    assert stale["status"] == "err" and stale["response"].startswith("Invalid nonce")


def test_malformed_body_gets_the_422_deserialize_error(fake: FakeHyperliquid) -> None:
    response = requests.post(fake.base_url + "/exchange", json={"action": {"type": "nonsense"}, "nonce": 1}, timeout=5)
    assert response.status_code == 422 and response.text == "Failed to deserialize the JSON body into the target type"
    assert requests.post(fake.base_url + "/info", json={"type": "nonsense"}, timeout=5).status_code == 422


async def _next(ws: ClientConnection, channel: str, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["channel"] == channel:
            return frame


def test_trades_through_a_resting_order_fill_it_and_push_user_frames(
    fake: FakeHyperliquid, info: Info, exchange: Exchange
) -> None:
    [status] = _statuses(exchange.order("DEMO", True, 1.0, 24.99, ALO))
    oid = status["resting"]["oid"]

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        async with connect(fake.ws_url) as ws:
            for kind in ("userFills", "orderUpdates", "userEvents"):
                subscription = {"type": kind, "user": MASTER.address}
                await ws.send(json.dumps({"method": "subscribe", "subscription": subscription}))
            snapshot = await _next(ws, "userFills")
            assert snapshot["data"]["isSnapshot"] is True and snapshot["data"]["fills"] == []
            for trade in (_trade("A", "24.99", "10.0"), _trade("A", "24.98", "0.4", 3), _trade("A", "24.97", "5.0", 4)):
                await asyncio.to_thread(fake.publish, trade)
            frames: dict[str, list[dict[str, Any]]] = {"userFills": [], "user": [], "orderUpdates": []}
            while [len(v) for v in frames.values()] != [2, 2, 1]:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                frames.get(frame["channel"], []).append(frame)
            return frames

    frames = asyncio.run(scenario())
    fills = [f["data"]["fills"][0] for f in frames["userFills"]]
    assert [(f["sz"], f["px"], f["time"], f["oid"], f["crossed"]) for f in fills] == [
        ("0.4", "24.99", 3, oid, False),
        ("0.6", "24.99", 4, oid, False),
    ]
    assert [u["data"]["fills"][0] for u in frames["user"]] == fills
    [update] = frames["orderUpdates"][0]["data"]
    assert update["status"] == "filled" and update["order"]["oid"] == oid
    assert info.open_orders(MASTER.address) == []
    [position] = info.user_state(MASTER.address)["assetPositions"]
    assert position["position"]["szi"] == "1.0" and position["position"]["entryPx"] == "24.99"
    assert [f["sz"] for f in info.user_fills(MASTER.address)] == ["0.6", "0.4"]


def test_modify_replaces_the_order_and_reports_missing_ones(
    fake: FakeHyperliquid, info: Info, exchange: Exchange
) -> None:
    [status] = _statuses(exchange.order("DEMO", False, 1.0, 25.05, ALO))
    oid = status["resting"]["oid"]
    [moved] = _statuses(exchange.modify_order(oid, "DEMO", False, 1.0, 25.04, ALO))
    [listed] = info.open_orders(MASTER.address)
    assert listed["limitPx"] == "25.04" and listed["oid"] == moved["resting"]["oid"] != oid
    stale = {"oid": oid, "order": _request(False, 1.0, 25.03)}
    assert _statuses(exchange.bulk_modify_orders_new([stale])) == [{"error": "Cannot modify canceled or filled order"}]
    order = {"a": 0, "b": False, "p": "25.02", "s": "1", "r": False, "t": ALO}
    single = _post(fake, _signed({"type": "modify", "oid": listed["oid"], "order": order}, fake.now_ms()))
    assert single == {"status": "ok", "response": {"type": "default"}}
    assert [o["limitPx"] for o in info.open_orders(MASTER.address)] == ["25.02"]


@pytest.mark.slow
def test_schedule_cancel_cancels_every_open_order_when_it_fires(
    fake: FakeHyperliquid, info: Info, exchange: Exchange
) -> None:
    assert exchange.schedule_cancel(fake.now_ms() + 4_000)["status"] == "err"
    _statuses(exchange.bulk_orders([_request(True, 1.0, 24.9), _request(False, 1.0, 25.1)]))
    assert exchange.schedule_cancel(fake.now_ms() + 5_300) == {"status": "ok", "response": {"type": "default"}}
    assert len(info.open_orders(MASTER.address)) == 2
    deadline = time.monotonic() + 10
    while info.open_orders(MASTER.address) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert info.open_orders(MASTER.address) == []


def test_schedule_cancel_allows_ten_triggers_a_day() -> None:
    exchange = FakeExchange(Venue([("DEMO", 2)]))
    exchange.authorize(MASTER.address, AGENT.address)
    now = 1_780_000_000_000
    for _ in range(10):
        now += 10_000
        reply = exchange.handle(_signed({"type": "scheduleCancel", "time": now + 6_000}, now), now)
        assert reply.body["status"] == "ok"
        exchange.fire_due(now + 6_000)
    now += 10_000
    reply = exchange.handle(_signed({"type": "scheduleCancel", "time": now + 6_000}, now), now)
    assert reply.body["status"] == "err" and "Too many" in reply.body["response"]


def test_every_request_is_recorded_verbatim(fake: FakeHyperliquid, exchange: Exchange) -> None:
    exchange.order("DEMO", True, 1.0, 24.99, ALO)
    [recorded] = [r for r in fake.requests if r.path == "/exchange"]
    assert json.loads(recorded.body)["action"]["orders"][0]["p"] == "24.99"
    assert recorded.headers["Content-Type"] == "application/json"


def test_ws_subscribe_ack_ping_and_errors(fake: FakeHyperliquid) -> None:
    sub = {"type": "l2Book", "coin": "DEMO"}
    messages = [{"method": "subscribe", "subscription": sub}] * 2 + [{"method": "ping"}]
    messages += [{"method": "unsubscribe", "subscription": sub}]

    async def scenario() -> list[dict[str, Any]]:
        async with connect(fake.ws_url) as ws:
            for message in messages:
                await ws.send(json.dumps(message))
            return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in messages]

    ack, duplicate, pong, unack = asyncio.run(scenario())
    echo = {"type": "l2Book", "coin": "DEMO", "nSigFigs": None, "mantissa": None}
    assert ack == {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": echo}}
    assert duplicate == {"channel": "error", "data": "Already subscribed: " + json.dumps(echo, separators=(",", ":"))}
    assert pong == {"channel": "pong"}
    assert unack == {"channel": "subscriptionResponse", "data": {"method": "unsubscribe", "subscription": echo}}


@pytest.mark.slow  # replays the simulated demo day (session fixture only slow tests share)
def test_replay_sends_subscribers_exactly_their_frames_in_order(fake: FakeHyperliquid, demo_day: Demo) -> None:
    assert fake.load_raw(demo_day[0], coins=["DEMO"], limit=3_000) == 3_000
    expected = [f.text for f in fake.frames if f.channel in ("trades", "bbo")]

    async def scenario() -> list[str]:
        async with connect(fake.ws_url) as ws:
            for kind in ("trades", "bbo"):
                await ws.send(json.dumps({"method": "subscribe", "subscription": {"type": kind, "coin": "DEMO"}}))
            acks = [json.loads(await ws.recv()) for _ in range(2)]
            assert {a["channel"] for a in acks} == {"subscriptionResponse"}
            await asyncio.to_thread(fake.start_replay, None)
            return [await asyncio.wait_for(ws.recv(), 5) for _ in expected]

    assert asyncio.run(scenario()) == expected
    fake.wait_replay()
    assert fake.sent_frames(["trades", "bbo"]) == expected


@pytest.mark.slow  # replays the simulated demo day (session fixture only slow tests share)
def test_paced_replay_follows_receive_times(fake: FakeHyperliquid, demo_day: Demo) -> None:
    fake.load_raw(demo_day[0], coins=["DEMO"], limit=200)
    frames = fake.frames
    span_s = (frames[-1].recv_ns - frames[0].recv_ns) / 1e9
    started = time.monotonic()
    fake.start_replay(speed=span_s / 0.5)
    fake.wait_replay()
    assert 0.45 <= time.monotonic() - started < 2.0


def test_idle_connections_are_closed_and_pinging_ones_are_not() -> None:
    with FakeHyperliquid(idle_timeout_s=0.5) as fake:

        async def scenario() -> tuple[bool, bool]:
            """Whether the quiet connection was closed while the pinging one, 1.6 s (over 3 idle timeouts) of pings
            later, is still open: both are read at the same instant, so a slow event loop delays both alike."""
            async with connect(fake.ws_url) as quiet, connect(fake.ws_url) as pinging:
                quiet_closed = asyncio.create_task(quiet.wait_closed())
                for _ in range(8):
                    await pinging.send(json.dumps({"method": "ping"}))
                    await asyncio.sleep(0.2)
                closed_in_time, pinging_open = quiet_closed.done(), pinging.close_code is None
                await quiet_closed
                return closed_in_time, pinging_open

        quiet_closed_in_time, pinging_open = asyncio.run(scenario())
    assert quiet_closed_in_time and pinging_open


def test_disconnect_drops_every_client_who_can_reconnect(fake: FakeHyperliquid) -> None:
    async def scenario() -> tuple[int | None, dict[str, Any]]:
        async with connect(fake.ws_url) as ws:
            await ws.send(json.dumps({"method": "ping"}))
            await ws.recv()
            assert await asyncio.to_thread(fake.disconnect_all) == 1
            await ws.wait_closed()
            code = ws.close_code
        async with connect(fake.ws_url) as again:
            await again.send(json.dumps({"method": "ping"}))
            return code, json.loads(await again.recv())

    code, pong = asyncio.run(scenario())
    assert code == 1012 and pong == {"channel": "pong"}


def test_trades_subscription_starts_with_recent_trades_when_configured() -> None:
    with FakeHyperliquid(trades_snapshot=3) as fake:
        for i in range(4):
            fake.publish(_trade("B", "25.0", f"{i + 1}.0", i))

        async def scenario() -> dict[str, Any]:
            async with connect(fake.ws_url) as ws:
                await ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "DEMO"}}))
                return await _next(ws, "trades")

        snapshot = asyncio.run(scenario())
    assert [t["sz"] for t in snapshot["data"]] == ["2.0", "3.0", "4.0"]
