"""A backtest that can only use what was known: the signal of bar t is traded at the open (or
close) of bar t+1 and held one bar, to the same point of bar t+2. Costs are charged in basis
points of the capital traded (turnover).

- long_flat: hold an instrument (equal weight across the instruments held) while the signal
  says up, stay in cash otherwise; with one ticker this is the classic long/flat timing rule.
- long_short: each bar, long the top `quantile` of tickers by score and short the bottom one,
  each leg equally weighted with gross exposure 1 per leg (dollar neutral). Ties at a leg's edge
  are left out, so a contender that cannot rank (a constant score) holds nothing.
- buy and hold: equal weight in every ticker that trades, costs only when the universe changes.

Returns are simple returns of split- and dividend-adjusted prices; no risk-free rate is
subtracted from the Sharpe ratio, and no borrow fee is charged for shorts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from updown.config import BacktestConfig
from updown.errors import UpdownError
from updown.panel import adjusted_ohlc, lead, rows_left_in_ticker

MIN_PERIODS_PER_YEAR_SPAN_DAYS = 1.0
#: What `summary` reports for each strategy, in the report's order: its label there, and whether
#: it reads as a percentage.
FIGURES: dict[str, tuple[str, bool]] = {
    "ann_return": ("annual return", True),
    "ann_return_gross": ("before costs", True),
    "ann_vol": ("annual volatility", True),
    "sharpe": ("Sharpe", False),
    "max_drawdown": ("max drawdown", True),
    "turnover": ("turnover / bar", False),
    "exposure": ("exposure", False),
    "total_return": ("total return", True),
}


def trade_returns(prices: pd.DataFrame, execution: str) -> pd.DataFrame:
    """For each (ticker, timestamp) t: the simple return of holding from bar t+1 to bar t+2 at the
    chosen execution price (NaN when those bars do not exist)."""
    bars = adjusted_ohlc(prices)
    price = bars["open"] if execution == "open" else bars["close"]
    left = rows_left_in_ticker(prices["ticker"])
    entry, exit_ = lead(price, 1, left), lead(price, 2, left)
    return pd.DataFrame(
        {
            "ticker": prices["ticker"],
            "timestamp": prices["timestamp"],
            "trade_return": (exit_ / entry - 1.0).to_numpy(),
        }
    )


def resolve_mode(cfg: BacktestConfig, n_tickers: int) -> str:
    if cfg.mode == "auto":
        return "long_flat" if n_tickers == 1 else "long_short"
    if cfg.mode == "long_short" and n_tickers < 2:
        raise UpdownError("evaluate.backtest.mode: long_short needs at least two tickers")
    return cfg.mode


def long_flat_weights(up: pd.DataFrame) -> pd.DataFrame:
    """`up`: bars x tickers, 1.0 for an up call, 0.0 for down, NaN where the ticker is absent."""
    present = up.notna().sum(axis=1).replace(0, np.nan)
    return up.fillna(0.0).div(present, axis=0).fillna(0.0)


def long_short_weights(score: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """+1/k on the k highest scores, -1/k on the k lowest, k = max(1, floor(quantile * n))."""
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


def run(weights: pd.DataFrame, returns: pd.DataFrame, cost_bps: float) -> pd.DataFrame:
    """Per bar: gross and net return, cost, turnover (sum of |weight change|) and exposure."""
    w = weights.fillna(0.0)
    r = returns.reindex_like(w).fillna(0.0)
    turnover = w.diff().abs().sum(axis=1)
    turnover.iloc[0] = w.iloc[0].abs().sum()  # the first bar builds the book from cash
    gross = (w * r).sum(axis=1)
    cost = turnover * cost_bps / 1e4
    return pd.DataFrame(
        {
            "gross": gross,
            "cost": cost,
            "net": gross - cost,
            "turnover": turnover,
            "exposure": w.abs().sum(axis=1),
        }
    )


def estimate_periods_per_year(timestamps: pd.Index) -> float:
    """Bars per year from the spacing of the bars (about 252 for US daily bars)."""
    if len(timestamps) < 2:
        return 252.0
    span = (timestamps.max() - timestamps.min()) / pd.Timedelta(days=1)
    if span < MIN_PERIODS_PER_YEAR_SPAN_DAYS:
        return 252.0
    return float((len(timestamps) - 1) * 365.25 / span)


def summary(bars: pd.DataFrame, periods_per_year: float) -> dict[str, float]:
    """Annualised return (geometric), volatility, Sharpe (no risk-free rate), maximum drawdown,
    mean turnover and exposure per bar, total return: the keys of `FIGURES`."""
    net = bars["net"].to_numpy()
    equity = np.cumprod(1.0 + net)
    n = len(net)
    std = float(np.std(net, ddof=1)) if n > 1 else float("nan")
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    final = float(equity[-1]) if n else 1.0
    return {
        "ann_return": final ** (periods_per_year / n) - 1.0 if n and final > 0 else float("nan"),
        "ann_return_gross": float(np.prod(1.0 + bars["gross"].to_numpy())) ** (periods_per_year / n)
        - 1.0
        if n
        else float("nan"),
        "ann_vol": std * np.sqrt(periods_per_year),
        "sharpe": float(np.mean(net)) / std * np.sqrt(periods_per_year)
        if std and np.isfinite(std)
        else float("nan"),
        "max_drawdown": float(np.min(equity / peak - 1.0)) if n else float("nan"),
        "turnover": float(bars["turnover"].mean()),
        "exposure": float(bars["exposure"].mean()),
        "total_return": final - 1.0,
    }


@dataclass
class BacktestResult:
    mode: str
    periods_per_year: float
    bars: int
    stats: dict[str, dict[str, float]]  # strategy -> summary
    equity: pd.DataFrame  # timestamp x strategy, net equity (starts at 1 before the first bar)


def backtest(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    contenders: list[str],
    cfg: BacktestConfig,
) -> BacktestResult:
    """Backtest every contender's signals in `predictions` (score_<name>, up_<name>) and buy and
    hold, on the bars whose next-bar trade can be priced."""
    # A trade looks forward only (bars t+1 and t+2 of the same ticker): bars before the first
    # signal are not needed, and leaving them out keeps the join small on a long panel.
    start = predictions["timestamp"].min()
    recent = prices[(prices["timestamp"] >= start).to_numpy()].reset_index(drop=True)
    trades = predictions[["ticker", "timestamp"]].merge(
        trade_returns(recent, cfg.execution), on=["ticker", "timestamp"], how="left"
    )
    ok = trades["trade_return"].notna().to_numpy()
    if not ok.any():
        raise UpdownError("backtest: no test bar has the two following bars it needs to trade")
    rows = predictions.loc[ok].reset_index(drop=True)
    rows["trade_return"] = trades.loc[ok, "trade_return"].to_numpy()
    n_tickers = int(rows["ticker"].nunique())
    mode = resolve_mode(cfg, n_tickers)

    def wide(column: str) -> pd.DataFrame:
        return rows.pivot(index="timestamp", columns="ticker", values=column).sort_index()

    returns = wide("trade_return")
    ppy = cfg.periods_per_year or estimate_periods_per_year(returns.index)
    strategies: dict[str, pd.DataFrame] = {}
    for name in contenders:
        if mode == "long_flat":
            weights = long_flat_weights(wide(f"up_{name}").astype(float))
        else:
            weights = long_short_weights(wide(f"score_{name}").astype(float), cfg.quantile)
        strategies[name] = run(weights, returns, cfg.cost_bps)
    everyone = returns.notna().astype(float).where(returns.notna())
    strategies["buy_and_hold"] = run(long_flat_weights(everyone), returns, cfg.cost_bps)
    stats = {name: summary(bars, ppy) for name, bars in strategies.items()}
    equity = pd.DataFrame(
        {name: (1.0 + bars["net"]).cumprod() for name, bars in strategies.items()}
    )
    return BacktestResult(mode, float(ppy), len(returns), stats, equity)
