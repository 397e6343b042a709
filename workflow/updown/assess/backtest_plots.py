"""The backtest's portfolio and cost-curve plots, each as data (CSV, declared in dvc.yaml for
`dvc plots`) and as a PNG for the report, like the plots of `updown.assess.plots`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.assess.backtest import cost_key
from updown.assess.backtest_report import PORTFOLIO_NAMES
from updown.assess.evaluate import Evaluation
from updown.assess.plots import COLOURS, Figure, _pyplot, _saved
from updown.io import write_csv

PORTFOLIO_FIGURES = (
    "exposure",
    "turnover",
    "cost_paid",
    "ann_return_gross",
    "ann_return",
    "sharpe",
)


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def portfolio_table(portfolios: dict[str, dict[str, dict[str, Any]]]) -> pd.DataFrame:
    """One row per portfolio and strategy (`book`: "portfolio: strategy", the plot's axis)."""
    rows = []
    for p, by_name in portfolios.items():
        for name, sec in by_name.items():
            row: dict[str, Any] = {"book": f"{p}: {name}", "portfolio": p, "strategy": name}
            row.update({k: round(_num(sec.get(k)), 6) for k in PORTFOLIO_FIGURES})
            rows.append(row)
    return pd.DataFrame(rows)


def cost_curve_table(
    portfolios: dict[str, dict[str, dict[str, Any]]], costs: tuple[float, ...]
) -> pd.DataFrame:
    """Net Sharpe by cost (bp): one column per unconstrained strategy, and one per
    turnover-controlled portfolio of the model (`model_<portfolio>`)."""
    columns = {name: sec for name, sec in portfolios["unconstrained"].items()}
    for p, by_name in portfolios.items():
        if p != "unconstrained" and "model" in by_name:
            columns[f"model_{p}"] = by_name["model"]
    table: dict[str, Any] = {"cost_bps": [float(c) for c in costs]}
    for col, sec in columns.items():
        table[col] = [round(_num(sec.get(f"sharpe_at_{cost_key(c)}")), 6) for c in costs]
    return pd.DataFrame(table)


def portfolio_plot(ev: Evaluation, out_dir: Path) -> Figure:
    table = portfolio_table(ev.backtest.portfolios)
    write_csv(table, out_dir / "portfolios.csv")
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(9, 0.9 + 0.28 * len(table)))
    y = np.arange(len(table))[::-1]
    colours = [COLOURS.get(s, "#444444") for s in table["strategy"]]
    left.barh(y, table["turnover"], color=colours)
    right.barh(y, table["sharpe"].fillna(0.0), color=colours)
    labels = [f"{PORTFOLIO_NAMES.get(p, p)}: {ev.context.label(s)}"
              for p, s in zip(table["portfolio"], table["strategy"], strict=True)]  # fmt: skip
    left.set_yticks(y, labels, fontsize=7)
    right.set_yticks(y, [""] * len(y))
    left.set(xlabel="turnover per bar", title="Turnover")
    right.axvline(0.0, color="k", lw=0.5)
    right.set(xlabel="net Sharpe (annualised)", title="Sharpe after costs")
    return _saved(
        fig,
        out_dir,
        "portfolios",
        "Portfolios: turnover and net Sharpe",
        "Each contender's book, unconstrained and under each turnover control: how much of "
        "the capital it trades a bar (left) and what is left of its Sharpe after costs (right).",
    )


def cost_curve_plot(ev: Evaluation, out_dir: Path) -> Figure:
    table = cost_curve_table(ev.backtest.portfolios, ev.backtest.costs)
    write_csv(table, out_dir / "cost_curve.csv")
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    dashes = iter([":", "-.", (0, (5, 2)), (0, (1, 3))])  # one per controlled portfolio
    for col in table.columns[1:]:
        name = col.split("_")[0] if col.startswith("model_") else col
        ax.plot(
            table["cost_bps"], table[col], marker="o", ms=3, color=COLOURS.get(name, "#444444"),
            ls=next(dashes) if col.startswith("model_") else "-",
            lw=2.2 if col == "model" else 1.0, label=ev.context.label(col),
        )  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set(xlabel="cost per unit traded (bp)", ylabel="net Sharpe (annualised)",
           title="Cost curve, test period")  # fmt: skip
    ax.legend(fontsize=7)
    return _saved(
        fig,
        out_dir,
        "cost_curve",
        "Cost curve",
        "Net Sharpe of each contender's book as the cost per unit traded grows (dotted and "
        "dashed: the model's turnover-controlled portfolios). Where a line crosses zero is its break-even.",
    )


def write_backtest_plots(ev: Evaluation, out_dir: Path) -> list[Figure]:
    """The portfolio and cost-curve plots (CSV and PNG) under `out_dir`, in report order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [portfolio_plot(ev, out_dir), cost_curve_plot(ev, out_dir)]
