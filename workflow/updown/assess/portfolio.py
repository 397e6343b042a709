"""Portfolio construction: from a contender's calls or scores to weights per bar and ticker.

Every frame here is bars x tickers (index: the signal's timestamp, sorted; NaN: the ticker has
no signal or no tradable return at that bar). What the backtest tests follows the label:

- calls (`direction`, `triple_barrier`; `return` on one ticker, by the sign of the prediction):
  each ticker a sleeve of 1/N of the capital (N: the tickers present at the bar), long on an up
  call and flat otherwise (`long_flat`), or short on a down call (`long_short_calls`);
- ranking (`return` on several tickers, `long_short`): long the top `quantile` of tickers by score
  and short the bottom one, each leg equally weighted with gross exposure 1 (dollar neutral).

Turnover control, each applied on its own to the same base book of every contender:

- `top_k` (Qlib's TopkDropout idea, ranking only): each leg holds k names and replaces at most
  `max_swaps` of them a bar: the worst held names that left the top k, for the best names of the
  top k not held. A name that leaves the universe is sold whatever the limit.
- `hold_bars` (Jegadeesh-Titman overlapping cohorts): each bar's book gets 1/h of the capital
  and is held h bars; the position is the mean of the last h books (the first h-1 bars are
  partly in cash, as the cohorts build up).
- `band`: a no-trade band; a weight moves to its target only when the change exceeds `band`
  (a ticker that leaves the universe is closed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from updown.config import BacktestConfig

CALL_MODES = ("long_flat", "long_short_calls")


def long_flat_weights(up: pd.DataFrame) -> pd.DataFrame:
    """`up`: 1.0 for an up call, 0.0 for down, NaN where the ticker is absent."""
    present = up.notna().sum(axis=1).replace(0, np.nan)
    return up.fillna(0.0).div(present, axis=0).fillna(0.0)


def long_short_call_weights(up: pd.DataFrame) -> pd.DataFrame:
    """+1/N on an up call, -1/N on a down call, N the tickers present at the bar."""
    return long_flat_weights(2.0 * up - 1.0)


def long_short_weights(score: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """+1/k on the k highest scores, -1/k on the k lowest, k = max(1, floor(quantile * n)).
    Ties at a leg's edge are left out, so a contender that cannot rank holds nothing."""
    n = score.notna().sum(axis=1)
    k = np.maximum(1, np.floor(quantile * n)).to_numpy()[:, None]
    # method="max": tickers tied across a leg's edge all rank past it and are left out
    top = score.rank(axis=1, ascending=False, method="max").to_numpy() <= k
    bottom = score.rank(axis=1, ascending=True, method="max").to_numpy() <= k
    usable = (n >= 2).to_numpy()[:, None]
    both = top & bottom  # only possible when a bar has a single distinct score
    w = np.where(top & usable & ~both, 1.0, 0.0) - np.where(bottom & usable & ~both, 1.0, 0.0)
    long_n = (w > 0).sum(axis=1, keepdims=True)
    short_n = (w < 0).sum(axis=1, keepdims=True)
    scale = np.where(w > 0, 1.0 / np.maximum(long_n, 1), 1.0 / np.maximum(short_n, 1))
    return pd.DataFrame(w * scale, index=score.index, columns=score.columns)


def _dropout_leg(score: np.ndarray, k: int, max_swaps: int) -> np.ndarray:
    """One leg of TopkDropout over bars (rows): True where a name is held. A bar whose scores
    do not vary holds nothing (no ranking to act on)."""
    held = np.zeros(score.shape, dtype=bool)
    book = np.zeros(score.shape[1], dtype=bool)
    for i, row in enumerate(score):
        live = np.isfinite(row)
        if live.sum() < 2 or np.nanmax(row) == np.nanmin(row):
            book[:] = False
            continue
        book &= live  # a name without a signal (or a price) now is sold, whatever the limit
        order = np.argsort(-np.where(live, row, -np.inf), kind="stable")
        top = np.zeros_like(book)
        top[order[: min(k, int(live.sum()))]] = True
        leaving = [j for j in order[::-1] if book[j] and not top[j]]  # worst first
        joining = [j for j in order if top[j] and not book[j]]  # best first
        swaps = min(max_swaps, len(leaving), len(joining))
        book[leaving[:swaps]] = False
        room = k - int(book.sum())  # empty seats (first bar, names gone) are filled freely
        book[[j for j in joining if not book[j]][: max(room, 0)]] = True
        held[i] = book
    return held


def top_k_weights(score: pd.DataFrame, k: int, max_swaps: int) -> pd.DataFrame:
    """Long the k best and short the k worst names, each leg replacing at most `max_swaps`
    names a bar; each held name weighs 1/(names in its leg)."""
    s = score.to_numpy(dtype=np.float64)
    longs = _dropout_leg(s, k, max_swaps)
    shorts = _dropout_leg(-s, k, max_swaps) & ~longs
    w = longs / np.maximum(longs.sum(axis=1, keepdims=True), 1)
    w = w - shorts / np.maximum(shorts.sum(axis=1, keepdims=True), 1)
    return pd.DataFrame(w, index=score.index, columns=score.columns)


def cohort_weights(weights: pd.DataFrame, hold_bars: int, present: pd.DataFrame) -> pd.DataFrame:
    """The mean of the last `hold_bars` books (each cohort held h bars), 0 where a ticker is
    absent."""
    held = weights.fillna(0.0).rolling(hold_bars, min_periods=1).sum() / hold_bars
    return held.where(present, 0.0)


def banded_weights(weights: pd.DataFrame, band: float, present: pd.DataFrame) -> pd.DataFrame:
    """Weights that follow the target only when it moves more than `band` from the current
    weight; an absent ticker's weight is closed."""
    target = weights.fillna(0.0).to_numpy()
    ok = present.to_numpy()
    out = np.zeros_like(target)
    current = np.zeros(target.shape[1])
    for i in range(len(target)):
        move = np.abs(target[i] - current) > band
        current = np.where(ok[i], np.where(move, target[i], current), 0.0)
        out[i] = current
    return pd.DataFrame(out, index=weights.index, columns=weights.columns)


def base_weights(mode: str, up: pd.DataFrame, score: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """The unconstrained book of `mode` (see the module docstring)."""
    if mode == "long_flat":
        return long_flat_weights(up)
    if mode == "long_short_calls":
        return long_short_call_weights(up)
    return long_short_weights(score, quantile)


def controlled(cfg: BacktestConfig, mode: str, n_tickers: int) -> list[str]:
    """The turnover-controlled portfolios that apply: top_k needs a ranking with room for two
    legs of k names; the others apply to any book."""
    names = []
    if cfg.top_k is not None and mode == "long_short" and n_tickers >= 2 * cfg.top_k:
        names.append("top_k")
    if cfg.hold_bars > 1:
        names.append("hold_bars")
    if cfg.band > 0:
        names.append("band")
    return names


def portfolio_weights(
    name: str,
    base: pd.DataFrame,
    score: pd.DataFrame,
    present: pd.DataFrame,
    cfg: BacktestConfig,
) -> pd.DataFrame:
    """The book of portfolio `name` (unconstrained, top_k, hold_bars, band) for one contender."""
    if name == "top_k":
        assert cfg.top_k is not None
        return top_k_weights(score, cfg.top_k, cfg.max_swaps)
    if name == "hold_bars":
        return cohort_weights(base, cfg.hold_bars, present)
    if name == "band":
        return banded_weights(base, cfg.band, present)
    return base
