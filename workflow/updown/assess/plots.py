"""Every plot twice: as data (CSV, declared in dvc.yaml for `dvc plots`) and as a PNG for the
report. Tables are pure functions; each `*_plot` writes one plot's CSV and PNG, and
`write_plots` writes them all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.assess.evaluate import CONTENDERS, Evaluation
from updown.assess.scoring import calibration_table, targets
from updown.contract import CLASSIFICATION
from updown.io import write_csv, write_with

FPR_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)
COLOURS = {
    "model": "#d62728",
    "majority": "#7f7f7f",
    "momentum": "#1f77b4",
    "reversal": "#2ca02c",
    "linear": "#9467bd",
    "buy_and_hold": "#000000",
}


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    caption: str
    png: Path


def roc_table(pred: pd.DataFrame, task: str) -> pd.DataFrame:
    """True positive rate of every contender on a common false-positive-rate grid (wide, so
    `dvc plots` draws one line per contender)."""
    up = targets(pred, task).up
    table = {"fpr": FPR_GRID}
    for name in CONTENDERS:
        fpr, tpr = roc_points(up, pred[f"score_{name}"].to_numpy(dtype=float))
        last = np.r_[fpr[1:] != fpr[:-1], True]  # the highest TPR at each FPR
        table[name] = np.round(np.interp(FPR_GRID, fpr[last], tpr[last]), 5)
    return pd.DataFrame(table)


def roc_points(up: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates from (0, 0) through each distinct score, highest first,
    collinear points dropped: sklearn.metrics.roc_curve's points, step for step, without
    importing scikit-learn into the evaluate stage (~0.7 s)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    ranked, hits = score[order], np.asarray(up, dtype=np.float64)[order]
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # the last row of each score
    tps = np.cumsum(hits)[ends]
    fps = (ends + 1) - tps
    if len(fps) > 2:
        corners = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[corners], tps[corners]
    with np.errstate(invalid="ignore", divide="ignore"):  # one class only: NaN, as sklearn
        return np.r_[0.0, fps] / fps[-1], np.r_[0.0, tps] / tps[-1]


def calibration_plot_table(pred: pd.DataFrame, task: str, name: str, bins: int) -> pd.DataFrame:
    t = targets(pred, task)
    table = calibration_table(pred[f"value_{name}"].to_numpy(dtype=float), t.y, bins)
    return table[["predicted", "observed", "rows"]].round(6)


def confusion_rows(pred: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per test row (what DVC's confusion template counts): actual and predicted."""
    t = targets(pred, task)
    return pd.DataFrame(
        {
            "actual": np.where(t.up, "up", "down"),
            "predicted": np.where(pred["up_model"].to_numpy(dtype=bool), "up", "down"),
        }
    )


def importance_table(model_text: str) -> pd.DataFrame:
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    gain = booster.feature_importance(importance_type="gain")
    table = pd.DataFrame({"feature": booster.feature_name(), "gain": np.round(gain, 4)})
    return table.sort_values(["gain", "feature"], ascending=[False, True], ignore_index=True)


def equity_table(equity: pd.DataFrame) -> pd.DataFrame:
    """Net equity by signal date; `year` (decimal) is the x axis `dvc plots` can draw."""
    ts = pd.DatetimeIndex(equity.index)
    year = ts.year + (ts.dayofyear - 1 + ts.hour / 24.0) / np.where(ts.is_leap_year, 366, 365)
    out = pd.DataFrame({"date": ts.strftime("%Y-%m-%d %H:%M"), "year": np.round(year, 5)})
    for col in equity.columns:
        out[col] = np.round(equity[col].to_numpy(), 6)
    return out


def _save_png(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    # no date/software metadata: the same inputs give the same bytes
    write_with(
        path,
        lambda tmp: fig.savefig(
            tmp, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None}
        ),
    )
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _saved(fig: Any, out_dir: Path, name: str, title: str, caption: str) -> Figure:
    path = out_dir / f"{name}.png"
    _save_png(fig, path)
    return Figure(name, title, caption, path)


def roc_plot(ev: Evaluation, out_dir: Path) -> Figure:
    roc = roc_table(ev.predictions, ev.context.task)
    write_csv(roc, out_dir / "roc.csv")
    fig, ax = _pyplot().subplots(figsize=(5.2, 5))
    for name in CONTENDERS:
        ax.plot(
            roc["fpr"], roc[name], label=ev.context.label(name), color=COLOURS[name],
            lw=2.2 if name == "model" else 1.1,
        )  # fmt: skip
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test rows")
    ax.legend(fontsize=8, loc="lower right")
    return _saved(
        fig,
        out_dir,
        "roc",
        "ROC curve",
        "How well each contender ranks the bars that went up above those that went down. "
        "The dotted diagonal is a coin flip; a curve above it ranks better than chance "
        "(the area under it is the ROC AUC in the table).",
    )


def calibration_plot(ev: Evaluation, out_dir: Path, bins: int) -> Figure:
    pred, task = ev.predictions, ev.context.task
    cal = calibration_plot_table(pred, task, "model", bins)
    write_csv(cal, out_dir / "calibration.csv")
    lin = calibration_plot_table(pred, task, "linear", bins)
    fig, ax = _pyplot().subplots(figsize=(5.2, 5))
    lo = float(min(cal["predicted"].min(), cal["observed"].min(), lin["predicted"].min()))
    hi = float(max(cal["predicted"].max(), cal["observed"].max(), lin["predicted"].max()))
    ax.plot([lo, hi], [lo, hi], "k:", lw=0.8, label="perfect calibration")
    ax.plot(cal["predicted"], cal["observed"], "o-", color=COLOURS["model"], label="model")
    ax.plot(
        lin["predicted"], lin["observed"], "s--", color=COLOURS["linear"],
        label=ev.context.label("linear"), lw=1,
    )  # fmt: skip
    what = "P(up)" if task == CLASSIFICATION else "return"
    ax.set(
        xlabel=f"predicted {what} (mean of bin)",
        ylabel="observed share of up" if task == CLASSIFICATION else "observed mean return",
        title=f"Calibration, {bins} equal-count bins",
    )
    ax.legend(fontsize=8)
    return _saved(
        fig,
        out_dir,
        "calibration",
        "Calibration",
        f"Test rows sorted by the predicted {what} into {bins} bins of equal size: the mean "
        "prediction of each bin against what actually happened. Points on the diagonal mean "
        "the numbers can be taken at face value.",
    )


def confusion_plot(ev: Evaluation, out_dir: Path) -> Figure:
    conf = confusion_rows(ev.predictions, ev.context.task)
    write_csv(conf, out_dir / "confusion.csv")
    counts = pd.crosstab(conf["actual"], conf["predicted"]).reindex(
        index=["down", "up"], columns=["down", "up"], fill_value=0
    )
    fig, ax = _pyplot().subplots(figsize=(4.2, 3.8))
    ax.imshow(counts.to_numpy(), cmap="Blues")
    for i in range(2):
        for j in range(2):
            v = int(counts.iloc[i, j])
            share = v / max(1, int(counts.to_numpy().sum()))
            ax.text(j, i, f"{v}\n({share:.1%})", ha="center", va="center", fontsize=11)
    ax.set_xticks([0, 1], ["down", "up"])
    ax.set_yticks([0, 1], ["down", "up"])
    ax.set(xlabel="model's call", ylabel="what happened", title="Confusion matrix (model)")
    return _saved(
        fig,
        out_dir,
        "confusion",
        "Confusion matrix",
        "Counts of the model's up/down calls against what happened on the test rows. The "
        "diagonal holds the correct calls.",
    )


def importance_shown(imp: pd.DataFrame, top: int = 20) -> pd.DataFrame:
    """The bars of the importance chart, bottom to top: the `top` features by gain among those
    the model used (gain > 0); a feature no split used has no importance to show."""
    return imp[imp["gain"] > 0].head(top).iloc[::-1]


def importance_plot(model_text: str, out_dir: Path) -> Figure:
    imp = importance_table(model_text)
    write_csv(imp, out_dir / "importance.csv")
    used = imp[imp["gain"] > 0]
    top = importance_shown(imp)
    fig, ax = _pyplot().subplots(figsize=(6, 5))
    ax.barh(top["feature"], top["gain"], color=COLOURS["model"])
    shown = f"top {len(top)}" if len(used) > len(top) else f"all {len(used)}"
    ax.set(
        xlabel="total gain",
        title=f"Feature importance ({shown} of {len(used)} used of {len(imp)}, by gain)",
    )
    if used.empty:
        ax.text(0.5, 0.5, "no split: no feature was used", ha="center", transform=ax.transAxes)
    return _saved(
        fig,
        out_dir,
        "importance",
        "Feature importance",
        "How much each feature reduced the training loss across all splits of the deployed "
        "model. High gain means the model leans on it, not that it predicts out of sample.",
    )


def loss_plot(curves: pd.DataFrame, best: int, loss_name: str, out_dir: Path) -> Figure:
    """Train and validation loss on their own axes (their levels differ by the periods'
    volatility, which would flatten both lines on one axis); `best`: the rounds kept."""
    fig, (top, bottom) = _pyplot().subplots(2, 1, figsize=(6, 5), sharex=True)
    folds = sorted(curves["fold"].unique())
    for k in folds:
        part = curves[curves["fold"] == k]
        alpha = 1.0 if k == folds[-1] else 0.25
        top.plot(part["iteration"], part["train_loss"], color="#1f77b4", alpha=alpha)
        bottom.plot(part["iteration"], part["valid_loss"], color="#d62728", alpha=alpha)
    for ax, which in ((top, "train"), (bottom, "validation")):
        ax.axvline(best, color="k", ls=":", lw=0.8, label=f"kept: {best} rounds")
        ax.set(ylabel=f"{which} {loss_name}")
        ax.legend(fontsize=8)
    top.set(title="Loss per boosting round")
    bottom.set(xlabel="boosting round")
    return _saved(
        fig,
        out_dir,
        "loss_curve",
        "Loss curve",
        "Training (top) and validation (bottom) loss per boosting round"
        + (" (earlier walk-forward folds faint)" if len(folds) > 1 else "")
        + ". Boosting stops once the validation loss stops improving; the dotted line marks "
        "the rounds kept. A validation loss that never falls means nothing generalised.",
    )


def equity_plot(ev: Evaluation, out_dir: Path) -> Figure:
    eq = equity_table(ev.backtest.equity)
    write_csv(eq, out_dir / "equity.csv")
    fig, ax = _pyplot().subplots(figsize=(7, 4))
    dates = pd.to_datetime(eq["date"])
    for name in [*CONTENDERS, "buy_and_hold"]:
        ax.plot(
            dates, eq[name], label=ev.context.label(name), color=COLOURS[name],
            lw=2.2 if name in ("model", "buy_and_hold") else 0.9,
            ls="-" if name in ("model", "buy_and_hold") else "--",
        )  # fmt: skip
    ax.axhline(1.0, color="k", lw=0.5)
    mode = ev.backtest.mode.replace("_", "/")
    ax.set(ylabel="growth of 1 (net of costs)", title=f"Equity curve, {mode}, test period")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _saved(
        fig,
        out_dir,
        "equity",
        "Equity curve",
        "What 1 unit of capital became, trading each contender's signal on the bar after it "
        "and paying the costs, next to buying and holding.",
    )


def write_plots(
    ev: Evaluation,
    curves: pd.DataFrame,
    model_text: str,
    out_dir: Path,
    bins: int,
    loss_name: str,
) -> list[Figure]:
    """Write every plot's CSV and PNG under `out_dir`; return the figures in report order.
    `curves`: fold, iteration, train_loss, valid_loss (one fold in holdout mode); `loss_name`:
    the early-stopping loss they measure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    best = int(ev.metrics["test"]["best_iteration"])
    return [
        roc_plot(ev, out_dir),
        calibration_plot(ev, out_dir, bins),
        confusion_plot(ev, out_dir),
        importance_plot(model_text, out_dir),
        loss_plot(curves, best, loss_name, out_dir),
        equity_plot(ev, out_dir),
    ]
