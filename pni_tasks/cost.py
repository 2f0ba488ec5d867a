"""Money: request units priced at the environment's on-demand rates."""

from __future__ import annotations

from pni_tasks.config import Prices


def cost(wru: float, rru: float, prices: Prices) -> float:
    """USD for ``wru`` write and ``rru`` read request units."""
    return wru * prices.wru_per_million / 1e6 + rru * prices.rru_per_million / 1e6


def format_usd(amount: float) -> str:
    """Dollars with enough digits to show sub-cent costs of small runs."""
    if amount == 0:
        return "$0"
    sign = "-" if amount < 0 else ""
    if abs(amount) >= 1:
        return f"{sign}${abs(amount):,.2f}"
    return f"{sign}${abs(amount):.6f}"
