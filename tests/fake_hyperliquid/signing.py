"""Signature and nonce checks of ``POST /exchange``, recomputing the L1 action hash as the exchange does.

The exchange deserializes an action into its own structs before hashing, so the hash is taken over the
action in struct key order with prices and sizes in canonical form (trailing zeros stripped) and optional
flags omitted when false. A client that signs anything else recovers to a different address and gets
"User or API Wallet 0x... does not exist." (as the real exchange answers).
"""

from __future__ import annotations

from bisect import insort
from typing import Any

from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action

from .wire import canonical

NONCES_KEPT = 100
NONCE_PAST_MS = 2 * 86_400_000
NONCE_FUTURE_MS = 86_400_000


class MalformedAction(ValueError):
    """The body does not deserialize into a known action (the exchange answers HTTP 422)."""


def _order_type(t: dict[str, Any]) -> dict[str, Any]:
    if "limit" in t:
        return {"limit": {"tif": t["limit"]["tif"]}}
    trigger = t["trigger"]
    trigger_px = canonical(trigger["triggerPx"])
    return {"trigger": {"isMarket": trigger["isMarket"], "triggerPx": trigger_px, "tpsl": trigger["tpsl"]}}


def order_wire(order: dict[str, Any]) -> dict[str, Any]:
    """One order in struct order: a, b, p, s, r, t, c (c only when set)."""
    out = {"a": order["a"], "b": order["b"], "p": canonical(order["p"]), "s": canonical(order["s"]), "r": order["r"]}
    out["t"] = _order_type(order["t"])
    if order.get("c") is not None:
        out["c"] = order["c"]
    return out


def _with_flag(action: dict[str, Any], source: dict[str, Any], key: str) -> dict[str, Any]:
    if source.get(key):
        action[key] = True
    return action


def canonical_action(action: dict[str, Any]) -> dict[str, Any]:
    """The action as the exchange hashes it; ``MalformedAction`` for unknown types or missing fields."""
    try:
        kind = action["type"]
        if kind == "order":
            out = {"type": kind, "orders": [order_wire(o) for o in action["orders"]], "grouping": action["grouping"]}
            if action.get("builder"):
                out["builder"] = {"b": action["builder"]["b"].lower(), "f": action["builder"]["f"]}
            return out
        if kind == "cancel":
            cancels = [{"a": c["a"], "o": c["o"]} for c in action["cancels"]]
            return _with_flag({"type": kind, "cancels": cancels}, action, "f")
        if kind == "cancelByCloid":
            cancels = [{"asset": c["asset"], "cloid": c["cloid"]} for c in action["cancels"]]
            return _with_flag({"type": kind, "cancels": cancels}, action, "f")
        if kind == "modify":
            return _with_flag({"type": kind, "oid": action["oid"], "order": order_wire(action["order"])}, action, "a")
        if kind == "batchModify":
            modifies = [{"oid": m["oid"], "order": order_wire(m["order"])} for m in action["modifies"]]
            return _with_flag({"type": kind, "modifies": modifies}, action, "a")
        if kind == "scheduleCancel":
            return {"type": kind} if action.get("time") is None else {"type": kind, "time": action["time"]}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MalformedAction(f"missing or invalid field: {exc}") from None
    raise MalformedAction(f"unknown action type {action.get('type')!r}")


def recover_signer(
    action: dict[str, Any],
    nonce: int,
    signature: dict[str, Any],
    vault_address: str | None,
    expires_after: int | None,
    mainnet: bool,
) -> str:
    """The lower-case address that signed ``action`` (canonicalised) with this nonce, vault and expiry."""
    try:
        sig = {"r": signature["r"], "s": signature["s"], "v": int(signature["v"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedAction(f"bad signature object: {exc}") from None
    try:
        address = recover_agent_or_user_from_l1_action(action, sig, vault_address, nonce, expires_after, mainnet)
    except Exception as exc:  # eth_keys raises its own types for an unrecoverable signature
        raise MalformedAction(f"unrecoverable signature: {exc}") from None
    return address.lower()


class NonceBook:
    """The 100 highest nonces of each signer: a new one must be unused, above the smallest kept, and in
    (now - 2 days, now + 1 day)."""

    def __init__(self) -> None:
        self._kept: dict[str, list[int]] = {}

    def use(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """Record ``nonce`` for ``signer``; returns the rejection text instead when it is not acceptable."""
        if not now_ms - NONCE_PAST_MS < nonce < now_ms + NONCE_FUTURE_MS:
            return f"Invalid nonce: nonce {nonce} is too far from the current time {now_ms}"
        kept = self._kept.setdefault(signer, [])
        if nonce in kept:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(kept) >= NONCES_KEPT and nonce < kept[0]:
            return f"Invalid nonce: nonce {nonce} is lower than the smallest of the last {NONCES_KEPT} nonces"
        insort(kept, nonce)
        del kept[:-NONCES_KEPT]
        return None
