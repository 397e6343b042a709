"""The signal sheet's plots (`updown.assess.signal`), as data (CSV for `dvc plots`) and PNG:
the decay of the rank IC with the holding horizon, with its bootstrap band, and the mean forward
return by score quantile at each horizon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from updown.assess.evaluate import Evaluation
from updown.assess.plots import COLOURS, Figure, _pyplot, _saved
from updown.assess.signal import SignalSheet
from updown.io import write_csv

BP = 1e4


def decay_table(sheet: SignalSheet) -> pd.DataFrame:
    """Rank IC by horizon: one column per contender, and the model's interval."""
    table: dict[str, list[float]] = {"horizon": list(sheet.horizons)}
    for name, c in sheet.contenders.items():
        table[name] = [round(c.rank_ic[h].point, 6) for h in sheet.horizons]
        if name == "model":
            table["model_lo"] = [round(c.rank_ic[h].lo, 6) for h in sheet.horizons]
            table["model_hi"] = [round(c.rank_ic[h].hi, 6) for h in sheet.horizons]
    return pd.DataFrame(table)


def quantile_table(sheet: SignalSheet, name: str = "model") -> pd.DataFrame:
    """Mean forward log return of each score quantile, per bar held (basis points), so the
    horizons share one scale; one column per horizon."""
    c = sheet.contenders[name]
    table = {"quantile": np.arange(1, sheet.quantiles + 1)}
    for h in sheet.horizons:
        table[f"h{h}"] = np.round(c.quantile_means[h] / h * BP, 4)
    return pd.DataFrame(table)


def decay_plot(ev: Evaluation, sheet: SignalSheet, out_dir: Path) -> Figure:
    decay = decay_table(sheet)
    write_csv(decay, out_dir / "signal_decay.csv")
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    x = decay["horizon"].to_numpy()
    if np.isfinite(decay["model_lo"]).any():
        ax.fill_between(
            x, decay["model_lo"], decay["model_hi"], color=COLOURS["model"], alpha=0.15,
            label=f"model, {ev.context.bootstrap.confidence:.0%} interval",
        )  # fmt: skip
    for name in sheet.contenders:
        ax.plot(
            x, decay[name], "o-" if name == "model" else ".--", color=COLOURS[name],
            lw=2.2 if name == "model" else 1.0, label=ev.context.label(name),
        )  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set_xticks(x, [str(h) for h in x])
    ax.set(xlabel="holding horizon (bars)", ylabel="rank IC", title="Signal decay: rank IC")
    ax.legend(fontsize=8)
    how = "mean per-bar cross-sectional" if sheet.cross_sectional else "time-series"
    return _saved(
        fig,
        out_dir,
        "signal_decay",
        "Signal decay",
        f"The {how} rank IC of each contender's score against the return it could trade "
        f"(entering at {sheet.entry.replace('_', ' ')}), held 1 to {x[-1]} bars. A signal "
        "worth trading stays above zero, band included, over the horizon it is held.",
    )


def quantile_plot(sheet: SignalSheet, out_dir: Path) -> Figure:
    table = quantile_table(sheet)
    write_csv(table, out_dir / "signal_quantiles.csv")
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    horizons = sheet.horizons
    width = 0.8 / len(horizons)
    shades = _pyplot().get_cmap("Reds")(np.linspace(0.35, 0.95, len(horizons)))
    for i, h in enumerate(horizons):
        ax.bar(
            table["quantile"] + (i - (len(horizons) - 1) / 2) * width, table[f"h{h}"].fillna(0.0),
            width=width, color=shades[i], label=f"{h} bar(s)",
        )  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(table["quantile"])
    ax.set(
        xlabel="model score quantile (1 lowest)",
        ylabel="mean forward return per bar held (bp)",
        title="Forward return by score quantile (model)",
    )
    ax.legend(fontsize=8, title="held")
    within = "within each bar, across tickers" if sheet.cross_sectional else "over the test period"
    return _saved(
        fig,
        out_dir,
        "signal_quantiles",
        "Return by score quantile",
        f"Test rows cut into {sheet.quantiles} quantiles of the model's score {within}: the "
        "mean tradable log return of each, per bar held so the horizons share a scale. A "
        "useful score climbs from the lowest quantile to the highest.",
    )


def signal_plots(ev: Evaluation, out_dir: Path) -> list[Figure]:
    """The sheet's plots (none when the evaluation has no sheet)."""
    if ev.signal is None:
        return []
    return [decay_plot(ev, ev.signal, out_dir), quantile_plot(ev.signal, out_dir)]
