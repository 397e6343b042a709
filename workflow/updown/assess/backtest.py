"""A backtest that can only use what was known: the signal of bar t is traded at the open (or
close) of bar t+1 and held one bar, to the same point of bar t+2 (`updown.returns`, horizon 1 at
the execution's entry: the same return a `label.entry: auto` label measures). Costs are charged
in basis points of the capital traded (turnover).

What it tests follows the label (`mode: auto`): calls for `direction` and `triple_barrier`
(long/flat per ticker, equally weighted), a cross-sectional ranking for `return` (top minus
bottom quantile; one ticker: long/flat by the sign of the prediction). The books, and the
turnover-controlled variants every contender gets alike, are built in `updown.assess.portfolio`.
Buy and hold: equal weight in every ticker that trades, costs only when the universe changes.

Every strategy's figures carry the Probabilistic Sharpe Ratio of its net per-bar returns and
the moments behind it (`updown.assess.sharpe`), and a cost curve: net annual return and Sharpe
at each of `cost_curve_bps`, with the break-even cost at which the mean net return (and so the
Sharpe) crosses zero: 1e4 x mean gross return / mean turnover, exact from the per-bar figures.

Returns are simple returns of split- and dividend-adjusted prices; no risk-free rate is
subtracted from the Sharpe ratio, and no borrow fee is charged for shorts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from updown.assess import portfolio as pf
from updown.assess.sharpe import moments, probabilistic_sharpe
from updown.config import BacktestConfig
from updown.contract import CLASSIFICATION
from updown.errors import UpdownError
from updown.returns import ENTRY_OF_EXECUTION, forward_simple_returns

# Kept importable from here: tests and callers built on them before the portfolio module.
long_flat_weights = pf.long_flat_weights
long_short_weights = pf.long_short_weights

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
    "cost_paid": ("costs / year", True),
    "total_return": ("total return", True),
}
#: The Sharpe ratio's standing (net per-bar returns): the keys the track stage reads for the
#: Deflated Sharpe Ratio. None where there are too few bars (or no variation) for the moments.
PSR_KEYS = ("sharpe_per_bar", "bars", "skew", "kurtosis", "psr")


def trade_returns(prices: pd.DataFrame, execution: str) -> pd.DataFrame:
    """For each (ticker, timestamp) t: the simple return of holding from bar t+1 to bar t+2 at the
    chosen execution price (NaN when those bars do not exist, or a gap lies between)."""
    ret = forward_simple_returns(prices, ENTRY_OF_EXECUTION[execution], 1)
    return pd.DataFrame(
        {
            "ticker": prices["ticker"],
            "timestamp": prices["timestamp"],
            "trade_return": ret.to_numpy(),
        }
    )


def resolve_mode(cfg: BacktestConfig, n_tickers: int, task: str = CLASSIFICATION) -> str:
    """`auto`: calls (long_flat) for a classification label, a ranking (long_short) for a
    return label on several tickers, long_flat by the sign of the prediction on one."""
    if cfg.mode == "auto":
        return "long_short" if task != CLASSIFICATION and n_tickers >= 2 else "long_flat"
    if cfg.mode == "long_short" and n_tickers < 2:
        raise UpdownError("evaluate.backtest.mode: long_short needs at least two tickers")
    return cfg.mode


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
        "cost_paid": float(bars["cost"].mean()) * periods_per_year,
        "total_return": final - 1.0,
    }


def sharpe_standing(net: np.ndarray) -> dict[str, Any]:
    """The PSR_KEYS of a net per-bar return series: per-bar Sharpe, bars, skew, kurtosis and
    P(true Sharpe > 0); None for each where the moments are undefined."""
    m = moments(net)
    if m is None:
        return dict.fromkeys(PSR_KEYS)
    psr = probabilistic_sharpe(m)
    return {**m.as_dict(), "psr": psr if np.isfinite(psr) else None}


def _net_at(gross: np.ndarray, turnover: np.ndarray, bps: float, ppy: float) -> dict[str, float]:
    net = gross - turnover * bps / 1e4
    n, sd = len(net), float(np.std(net, ddof=1)) if len(net) > 1 else float("nan")
    final = float(np.prod(1.0 + net)) if n else 1.0
    return {
        "ann_return": final ** (ppy / n) - 1.0 if n and final > 0 else float("nan"),
        "sharpe": float(np.mean(net)) / sd * np.sqrt(ppy) if sd > 0 else float("nan"),
    }


def cost_key(bps: float) -> str:
    """How a cost of the curve is written in a figure's key: 5 -> "5bp", 2.5 -> "2_5bp"."""
    return f"{bps:g}bp".replace(".", "_")


def cost_curve(bars: pd.DataFrame, costs: tuple[float, ...], ppy: float) -> dict[str, Any]:
    """Net annual return and Sharpe at each cost (`ann_return_at_5bp`, `sharpe_at_5bp`), and the
    break-even cost: where the mean net return crosses zero (None when the book never trades;
    negative: it loses before costs)."""
    gross, turnover = bars["gross"].to_numpy(), bars["turnover"].to_numpy()
    mean_turnover = float(np.mean(turnover)) if len(turnover) else 0.0
    out: dict[str, Any] = {
        "break_even_bps": 1e4 * float(np.mean(gross)) / mean_turnover if mean_turnover > 0 else None
    }
    for c in costs:
        at = _net_at(gross, turnover, c, ppy)
        out[f"ann_return_at_{cost_key(c)}"], out[f"sharpe_at_{cost_key(c)}"] = (
            at["ann_return"],
            at["sharpe"],
        )
    return out


def figures(bars: pd.DataFrame, ppy: float, costs: tuple[float, ...]) -> dict[str, Any]:
    """One strategy's figures, flat (metrics.json's sections are one level deep): FIGURES, the
    PSR_KEYS and its cost curve."""
    return {
        **summary(bars, ppy),
        **sharpe_standing(bars["net"].to_numpy()),
        **cost_curve(bars, costs, ppy),
    }


def section_name(portfolio: str, strategy: str) -> str:
    """metrics.json's section of a strategy's figures: `backtest_<strategy>` for the
    unconstrained books, `backtest_<portfolio>_<strategy>` for a turnover-controlled one."""
    if portfolio == "unconstrained":
        return f"backtest_{strategy}"
    return f"backtest_{portfolio}_{strategy}"


@dataclass
class BacktestResult:
    mode: str
    periods_per_year: float
    bars: int
    stats: dict[str, dict[str, Any]]  # strategy -> figures (the unconstrained books)
    equity: pd.DataFrame  # timestamp x strategy, net equity (starts at 1 before the first bar)
    #: portfolio (unconstrained, top_k, hold_bars, band) -> strategy -> figures
    portfolios: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    costs: tuple[float, ...] = ()  # the cost curve's costs, in bp

    def sections(self) -> dict[str, dict[str, Any]]:
        """metrics.json's backtest sections, every portfolio's strategies (`section_name`)."""
        return {
            section_name(p, name): figs
            for p, by_name in self.portfolios.items()
            for name, figs in by_name.items()
        }


def _tradable_rows(predictions: pd.DataFrame, prices: pd.DataFrame, execution: str) -> pd.DataFrame:
    # A trade looks forward only (bars t+1 and t+2 of the same ticker): bars before the first
    # signal are not needed, and leaving them out keeps the join small on a long panel.
    start = predictions["timestamp"].min()
    recent = prices[(prices["timestamp"] >= start).to_numpy()].reset_index(drop=True)
    trades = predictions[["ticker", "timestamp"]].merge(
        trade_returns(recent, execution), on=["ticker", "timestamp"], how="left"
    )
    ok = trades["trade_return"].notna().to_numpy()
    if not ok.any():
        raise UpdownError("backtest: no test bar has the two following bars it needs to trade")
    rows = predictions.loc[ok].reset_index(drop=True)
    rows["trade_return"] = trades.loc[ok, "trade_return"].to_numpy()
    return rows


def backtest(
    predictions: pd.DataFrame,
    prices: pd.DataFrame,
    contenders: list[str],
    cfg: BacktestConfig,
    task: str = CLASSIFICATION,
) -> BacktestResult:
    """Backtest every contender's signals in `predictions` (score_<name>, up_<name>) and buy and
    hold, on the bars whose next-bar trade can be priced: the unconstrained book of the mode
    the label asks for, and each turnover-controlled portfolio that applies."""
    rows = _tradable_rows(predictions, prices, cfg.execution)
    n_tickers = int(rows["ticker"].nunique())
    mode = resolve_mode(cfg, n_tickers, task)

    def wide(column: str) -> pd.DataFrame:
        return rows.pivot(index="timestamp", columns="ticker", values=column).sort_index()

    returns = wide("trade_return")
    present = returns.notna()
    ppy = cfg.periods_per_year or estimate_periods_per_year(returns.index)
    names = ["unconstrained", *pf.controlled(cfg, mode, n_tickers)]
    runs: dict[str, dict[str, pd.DataFrame]] = {p: {} for p in names}
    for name in contenders:
        score = wide(f"score_{name}").astype(float)
        base = pf.base_weights(mode, wide(f"up_{name}").astype(float), score, cfg.quantile)
        for p in names:
            weights = pf.portfolio_weights(p, base, score, present, cfg)
            runs[p][name] = run(weights, returns, cfg.cost_bps)
    everyone = present.astype(float).where(present)
    runs["unconstrained"]["buy_and_hold"] = run(long_flat_weights(everyone), returns, cfg.cost_bps)
    costs = cfg.cost_curve_bps
    portfolios = {
        p: {name: figures(bars, ppy, costs) for name, bars in by_name.items()}
        for p, by_name in runs.items()
    }
    plain = runs["unconstrained"]
    equity = pd.DataFrame({name: (1.0 + bars["net"]).cumprod() for name, bars in plain.items()})
    return BacktestResult(
        mode, float(ppy), len(returns), portfolios["unconstrained"], equity, portfolios, costs
    )
