"""A local fake Hyperliquid for tests: the exchange is the only thing faked, speaking the real wire protocol.

    with FakeHyperliquid(universe=[("DEMO", 2)], idle_timeout_s=60.0) as fake:
        fake.add_account(master_address, agents=[api_wallet_address])
        info = Info(fake.base_url, skip_ws=True, meta=fake.meta(), spot_meta=fake.spot_meta())
        exchange = Exchange(api_wallet, fake.base_url, meta=fake.meta(), spot_meta=fake.spot_meta(),
                            account_address=master_address)
        fake.load_raw(raw_root, coins=["DEMO"], limit=5_000)   # raw-zone captures to replay
        ... connect a WS client to fake.ws_url and subscribe ...
        fake.start_replay(speed=None)                         # or speed=10.0: 10x the captured pace

* ``fake.base_url`` (``http://127.0.0.1:PORT``) serves ``POST /info`` and ``POST /exchange``; ``fake.ws_url``
  (``ws://127.0.0.1:PORT2/ws``) the WebSocket. The SDK signs with the testnet source ("b") because the URL is
  not mainnet's; the fake verifies with ``mainnet=False`` by default.
* Signatures are verified by recomputing the L1 action hash (:mod:`.signing`); unknown signers and bad nonces
  get ``{"status":"err","response":...}``; order errors come back per order inside ``{"status":"ok"}``.
* Resting orders fill only when a replayed (or :meth:`FakeHyperliquid.publish`-ed) trade trades through them;
  fills and order updates are pushed to ``userFills`` / ``orderUpdates`` / ``userEvents`` subscribers.
* Everything clients send is kept in ``fake.requests``; every frame sent in ``fake.sent_frames()``.
"""

from .server import FakeHyperliquid, RecordedRequest

__all__ = ["FakeHyperliquid", "RecordedRequest"]
