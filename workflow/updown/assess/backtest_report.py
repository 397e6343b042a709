"""The report's words and tables for the backtest beyond its main table: how each book is built,
the PSR cell, the turnover-controlled portfolios and the cost curve. Pure functions of the
evaluation's metrics (metrics.json's `backtest` section) and settings; HTML out."""

from __future__ import annotations

import html
from typing import Any

from updown.assess.backtest import cost_key
from updown.config import BacktestConfig

NOT_ENOUGH_BARS = "not enough bars"
PORTFOLIO_NAMES = {
    "unconstrained": "unconstrained",
    "top_k": "top-k dropout",
    "hold_bars": "held cohorts",
    "band": "no-trade band",
}
#: Columns of the portfolio table: figure key, heading, as a percentage.
PORTFOLIO_COLUMNS = (
    ("exposure", "exposure", False),
    ("turnover", "turnover / bar", False),
    ("cost_paid", "costs / year", True),
    ("ann_return_gross", "before costs", True),
    ("ann_return", "after costs", True),
    ("sharpe", "Sharpe", False),
    ("psr", "PSR", False),
    ("break_even_bps", "break-even (bp)", False),
)


def _num(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def psr_cell(section: dict[str, Any]) -> str:
    """The PSR as the report shows it; "not enough bars" where the moments are undefined."""
    psr = section.get("psr")
    return NOT_ENOUGH_BARS if psr is None else f"{psr:.3f}"


def break_even_cell(section: dict[str, Any]) -> str:
    """The break-even cost in bp, or why there is none."""
    b = section.get("break_even_bps")
    if b is None:
        return "never trades" if "break_even_bps" in section else "n/a"
    return "loses before costs" if b <= 0 else f"{b:.1f}"


def strategy_text(mode: str, cfg: BacktestConfig) -> str:
    """How each contender's signal becomes positions (mode as resolved by the backtest)."""
    if mode == "long_flat":
        return (
            "Calls, long/flat: each ticker is a sleeve of 1/N of the capital, held whenever the "
            "contender calls up (for a return label: predicts a rise), in cash otherwise."
        )
    if mode == "long_short_calls":
        return (
            "Calls, long/short: each ticker is a sleeve of 1/N of the capital, long on an up "
            "call and short on a down call."
        )
    return (
        f"Ranking, long/short: every bar, long the top {cfg.quantile:.0%} of tickers by the "
        f"contender's score and short the bottom {cfg.quantile:.0%}, each leg equally "
        "weighted (1 unit long, 1 unit short). A contender that cannot rank (a constant "
        "score) holds nothing."
    )


def controls_text(cfg: BacktestConfig, names: list[str]) -> str:
    """What each turnover-controlled portfolio shown does."""
    parts = {
        "top_k": f"top-k dropout holds {cfg.top_k} names per leg and replaces at most "
        f"{cfg.max_swaps} a bar (Qlib's TopkDropout)",
        "hold_bars": f"held cohorts give each bar's book 1/{cfg.hold_bars} of the capital and "
        f"hold it {cfg.hold_bars} bars (Jegadeesh-Titman)",
        "band": f"the no-trade band moves a weight only when its target is more than "
        f"{cfg.band:g} away",
    }
    shown = [parts[n] for n in names if n in parts]
    if not shown:
        return "No turnover control applies to these settings."
    return "Turnover control, each on the same books of every contender: " + "; ".join(shown) + "."


def portfolio_table(portfolios: dict[str, dict[str, dict[str, Any]]], label: Any) -> str:
    """One row per portfolio and strategy; `label(name)`: a strategy's name for a reader."""
    head = "".join(f"<th>{h}</th>" for _, h, _ in PORTFOLIO_COLUMNS)
    rows = []
    for p, by_name in portfolios.items():
        for name, sec in by_name.items():
            cells = []
            for key, _, pct in PORTFOLIO_COLUMNS:
                if key == "psr":
                    cells.append(psr_cell(sec))
                elif key == "break_even_bps":
                    cells.append(break_even_cell(sec))
                else:
                    cells.append(_pct(sec.get(key)) if pct else _num(sec.get(key)))
            cls = "model" if name == "model" else ""
            first = html.escape(f"{PORTFOLIO_NAMES.get(p, p)}: {label(name)}")
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            rows.append(f'<tr class="{cls}"><th class="l">{first}</th>{tds}</tr>')
    return f'<table><tr><th class="l">portfolio: strategy</th>{head}</tr>{"".join(rows)}</table>'


def cost_table(by_name: dict[str, dict[str, Any]], costs: tuple[float, ...], label: Any) -> str:
    """Net annual return and Sharpe of each strategy at each cost of the curve."""
    head = "".join(f"<th>{c:g} bp</th>" for c in costs) + "<th>break-even (bp)</th>"
    rows = []
    for name, sec in by_name.items():
        cells = [
            f"{_pct(sec.get(f'ann_return_at_{cost_key(c)}'))} / "
            f"{_num(sec.get(f'sharpe_at_{cost_key(c)}'))}"
            for c in costs
        ]
        cells.append(break_even_cell(sec))
        cls = "model" if name == "model" else ""
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f'<tr class="{cls}"><th class="l">{html.escape(label(name))}</th>{tds}</tr>')
    return f'<table><tr><th class="l">net return / Sharpe</th>{head}</tr>{"".join(rows)}</table>'


def portfolio_section(
    portfolios: dict[str, dict[str, dict[str, Any]]], cfg: BacktestConfig, label: Any
) -> str:
    costs = cfg.cost_curve_bps
    """The portfolios and cost-curve part of the report's backtest section."""
    names = [p for p in portfolios if p != "unconstrained"]
    return f"""<h3>Portfolios and turnover</h3>
<p class="note">{html.escape(controls_text(cfg, names))} PSR: the probability that the true
Sharpe ratio of the net per-bar returns is above zero, given their skew and kurtosis (Bailey and
Lopez de Prado); "{NOT_ENOUGH_BARS}" where the test period is too short for it. Break-even: the
cost per unit traded at which the mean net return, and so the Sharpe, is zero.</p>
{portfolio_table(portfolios, label)}
<h3>Cost curve (unconstrained books)</h3>
{cost_table(portfolios["unconstrained"], costs, label)}
"""
