"""Hyperliquid's base-tier trading fees, in one place (docs: "Fees", perps tier 0: maker 0.015%, taker 0.045%).

Every package may import this module (it imports nothing). The default of every ``maker_fee_bps`` setting (the
quote policy, the backtest, the screen, the markouts' maker side, the demo market's truth) is
:data:`MAKER_FEE_BPS`; a parameter set records the fee it was validated with, so a fee change does not silently
change an already promoted set.
"""

from __future__ import annotations

MAKER_FEE_BPS = 1.5
"""Maker fee per fill, bps of notional (0.015%): a round trip of two maker fills pays 3 bps."""
TAKER_FEE_BPS = 4.5
"""Taker fee per fill, bps of notional (0.045%)."""
