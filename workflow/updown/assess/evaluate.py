"""Score the model and its baselines on the test rows (the same rows for every contender), put a
block-bootstrap interval on the headline metric, and backtest every contender's signals.

In walk-forward mode each fold's model and baselines score that fold's test block only; the
metrics are computed per fold and on all folds' test rows pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from updown.assess import bootstrap as bs
from updown.assess.backtest import BacktestResult, backtest
from updown.config import EvaluateConfig
from updown.contract import CLASSIFICATION
from updown.errors import UpdownError
from updown.learn.baselines import BASELINES, Contender, describe, predict_baselines

EPS = 1e-15
CONTENDERS = ("model", *BASELINES)
MIN_TEST_ROWS = 20
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier", "ece")
REGRESSION_METRICS = ("rmse", "mae", "ic", "rank_ic", "accuracy", "roc_auc")
CROSS_SECTION_METRICS = ("ic_mean", "ic_ir", "rank_ic_mean", "rank_ic_ir", "rank_ic_t")
ONLY_FOR = {
    "log_loss": CLASSIFICATION,
    "brier": CLASSIFICATION,
    "rmse": "regression",
    "mae": "regression",
}


@dataclass(frozen=True)
class FoldInput:
    """What one fold needs at test time: its blocks, its model and its fitted baselines."""

    fold: int
    blocks: pd.Series
    model_text: str
    baselines: dict[str, Any]


@dataclass
class Evaluation:
    metrics: dict[str, Any]  # reports/metrics.json (numbers only, rounded)
    predictions: pd.DataFrame
    backtest: BacktestResult
    headline: str
    intervals: dict[str, bs.Interval]
    comparisons: dict[str, bs.Comparison]
    context: dict[str, Any] = field(default_factory=dict)


# -- predictions ---------------------------------------------------------------------------------


def _columns(name: str, c: Contender) -> dict[str, np.ndarray]:
    return {f"score_{name}": c.score, f"value_{name}": c.value, f"up_{name}": c.up}


def fold_predictions(
    table: pd.DataFrame, fold: FoldInput, task: str, threshold: float
) -> pd.DataFrame:
    """One row per test row of `fold`: keys, label, and every contender's score, value and call."""
    import lightgbm as lgb

    in_test = (fold.blocks == "test").to_numpy()
    test = table if in_test.all() else table[in_test]  # holdout: every row read is a test row
    if test.empty:
        raise UpdownError(f"fold {fold.fold}: the test block is empty (check the split dates)")
    booster = lgb.Booster(model_str=fold.model_text)
    missing = [f for f in booster.feature_name() if f not in test.columns]
    if missing:
        raise UpdownError(
            f"the model uses feature(s) {', '.join(missing[:5])} that features.parquet lacks: "
            "retrain after changing the features"
        )
    out = test[["ticker", "timestamp", "label", "forward_return", "label_end"]].reset_index(
        drop=True
    )
    out.insert(2, "fold", fold.fold)
    value = np.asarray(booster.predict(test[booster.feature_name()]), dtype=float)
    cut = threshold if task == CLASSIFICATION else 0.0
    cols = _columns("model", Contender(score=value, value=value, up=value > cut))
    for name, c in predict_baselines(test, fold.baselines, task, threshold).items():
        cols.update(_columns(name, c))
    return pd.concat([out, pd.DataFrame(cols)], axis=1)


def test_predictions(
    table: pd.DataFrame, folds: list[FoldInput], task: str, threshold: float
) -> pd.DataFrame:
    """Every fold's test predictions, pooled and sorted by (ticker, timestamp)."""
    pred = pd.concat([fold_predictions(table, f, task, threshold) for f in folds])
    pred = pred.sort_values(["ticker", "timestamp"], ignore_index=True)
    if pred.duplicated(["ticker", "timestamp"]).any():
        raise UpdownError("split: walk-forward test blocks overlap; a row would be scored twice")
    if len(pred) < MIN_TEST_ROWS or (task == CLASSIFICATION and pred["label"].nunique() < 2):
        raise UpdownError(
            f"the test block has {len(pred)} labelled rows and "
            f"{pred['label'].nunique()} distinct label(s): too few to evaluate "
            "(check split.valid_end and data.end)"
        )
    return pred


# -- metrics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    y: np.ndarray  # the label (0/1, or the return)
    up: np.ndarray  # did it go up (bool)
    ret: np.ndarray  # what an IC correlates with: the label for returns, else the forward return
    bar: np.ndarray  # bar index (0..n_bars-1, in time order) of each row
    n_bars: int

    @cached_property
    def ret_rank(self) -> np.ndarray:
        """Rank of `ret` within its bar (the same for every contender: computed once)."""
        return ranks_within_bar(self.bar, self.ret)


def targets(pred: pd.DataFrame, task: str) -> Targets:
    y = pred["label"].to_numpy(dtype=float)
    bar_codes, bars = pd.factorize(pred["timestamp"], sort=True)
    return Targets(
        y=y,
        up=(y == 1) if task == CLASSIFICATION else (y > 0),
        ret=y if task != CLASSIFICATION else pred["forward_return"].to_numpy(dtype=float),
        bar=np.asarray(bar_codes),
        n_bars=len(bars),
    )


def ranks_within_bar(bar: np.ndarray, x: np.ndarray) -> np.ndarray:
    return pd.Series(x).groupby(bar).rank(method="average").to_numpy()


def per_bar_corr(bar: np.ndarray, x: np.ndarray, y: np.ndarray, n_bars: int) -> np.ndarray:
    """Pearson correlation of x and y within each bar (the cross-section). A bar whose x is
    constant has no ranking: 0. A bar with fewer than two rows or a constant y: NaN."""
    frame = pd.DataFrame({"bar": bar, "x": x, "y": y})
    g = frame.groupby("bar")
    dx = x - g["x"].transform("mean").to_numpy()
    dy = y - g["y"].transform("mean").to_numpy()
    sums = pd.DataFrame({"bar": bar, "xy": dx * dy, "xx": dx * dx, "yy": dy * dy}).groupby("bar")
    s = sums.sum().reindex(range(n_bars))
    n = g.size().reindex(range(n_bars)).fillna(0).to_numpy()
    spread_x = (g["x"].max() - g["x"].min()).reindex(range(n_bars)).to_numpy()
    spread_y = (g["y"].max() - g["y"].min()).reindex(range(n_bars)).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        ic = s["xy"].to_numpy() / np.sqrt(s["xx"].to_numpy() * s["yy"].to_numpy())
    ic = np.where(spread_x == 0, 0.0, ic)
    return np.where((n < 2) | (spread_y == 0) | ~np.isfinite(spread_y), np.nan, ic)


def scorer(metric: str, pred: pd.DataFrame, name: str, t: Targets, task: str) -> bs.Scorer:
    """`metric` of contender `name` as a bootstrap-ready weighted statistic."""
    if metric in ONLY_FOR and ONLY_FOR[metric] != task:
        raise UpdownError(f"evaluate.headline: {metric} is not defined for a {task} label")
    score = pred[f"score_{name}"].to_numpy(dtype=float)
    value = pred[f"value_{name}"].to_numpy(dtype=float)
    up = pred[f"up_{name}"].to_numpy(dtype=bool)
    # Hit counts and the AUC also know each row's bar: the bootstrap scores them from per-bar
    # counts, all resamples at once.
    if metric == "accuracy":
        return bs.weighted_mean((up == t.up).astype(float), t.bar, t.n_bars)
    if metric == "balanced_accuracy":
        return bs.weighted_balanced_accuracy((up == t.up).astype(float), t.up, t.bar, t.n_bars)
    if metric == "roc_auc":
        return bs.weighted_auc(score, t.up, t.bar, t.n_bars)
    if metric == "log_loss":
        p = np.clip(value, EPS, 1 - EPS)
        return bs.weighted_mean(-(t.y * np.log(p) + (1 - t.y) * np.log(1 - p)))
    if metric == "brier":
        return bs.weighted_mean((value - t.y) ** 2)
    if metric == "rmse":
        return bs.weighted_rmse(value - t.y)
    if metric == "mae":
        return bs.weighted_mean(np.abs(value - t.y))
    if metric == "ic":
        return bs.weighted_corr(score, t.ret)
    if metric == "rank_ic":
        return bs.weighted_corr(
            pd.Series(score).rank().to_numpy(), pd.Series(t.ret).rank().to_numpy()
        )
    if metric in ("ic_mean", "rank_ic_mean"):
        if metric == "ic_mean":
            x, y = score, t.ret
        else:
            x, y = ranks_within_bar(t.bar, score), t.ret_rank
        return bs.weighted_bar_mean(per_bar_corr(t.bar, x, y, t.n_bars))
    raise UpdownError(f"evaluate.headline: unknown metric {metric!r}")


def calibration_table(value: np.ndarray, target: np.ndarray, bins: int) -> pd.DataFrame:
    """Equal-count bins of the prediction: mean predicted vs mean observed, and the row count."""
    n = len(value)
    order = np.argsort(value, kind="stable")
    bin_of = np.empty(n, dtype=int)
    bin_of[order] = (np.arange(n) * min(bins, n)) // max(n, 1)
    frame = pd.DataFrame({"bin": bin_of, "predicted": value, "observed": target})
    table = frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), rows=("observed", "size")
    )
    return table.reset_index()


def expected_calibration_error(value: np.ndarray, target: np.ndarray, bins: int) -> float:
    table = calibration_table(value, target, bins)
    weights = table["rows"] / table["rows"].sum()
    return float((weights * (table["predicted"] - table["observed"]).abs()).sum())


def cross_section_stats(pred: pd.DataFrame, name: str, t: Targets) -> dict[str, float]:
    """Qlib's figures: mean IC and rank IC per bar, ICIR = mean / std, and the rank IC's t-stat."""
    score = pred[f"score_{name}"].to_numpy(dtype=float)
    ic = per_bar_corr(t.bar, score, t.ret, t.n_bars)
    ric = per_bar_corr(t.bar, ranks_within_bar(t.bar, score), t.ret_rank, t.n_bars)
    out = {}
    for prefix, series in (("ic", ic), ("rank_ic", ric)):
        v = series[np.isfinite(series)]
        mean = float(v.mean()) if len(v) else float("nan")
        std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        out[f"{prefix}_mean"] = mean
        out[f"{prefix}_ir"] = mean / std if std else float("nan")
        if prefix == "rank_ic":
            out["rank_ic_t"] = mean / std * np.sqrt(len(v)) if std else float("nan")
    return out


def contender_metrics(
    pred: pd.DataFrame, name: str, t: Targets, task: str, several: bool, bins: int
) -> dict[str, float]:
    names = CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS
    out: dict[str, float] = {}
    for metric in names:
        if metric == "ece":
            value = pred[f"value_{name}"].to_numpy(dtype=float)
            out[metric] = expected_calibration_error(value, t.y, bins)
        else:
            out[metric] = scorer(metric, pred, name, t, task).point(len(pred), t.n_bars)
    if several:
        out.update(cross_section_stats(pred, name, t))
    return out


def confusion(pred: pd.DataFrame, t: Targets, name: str = "model") -> dict[str, int]:
    call = pred[f"up_{name}"].to_numpy(dtype=bool)
    return {
        "tn": int(np.sum(~call & ~t.up)),
        "fp": int(np.sum(call & ~t.up)),
        "fn": int(np.sum(~call & t.up)),
        "tp": int(np.sum(call & t.up)),
    }


def headline_metric(cfg: EvaluateConfig, task: str, n_tickers: int) -> str:
    if cfg.headline != "auto":
        if cfg.headline in bs.PER_BAR and n_tickers < 2:
            raise UpdownError(
                f"evaluate.headline: {cfg.headline} is a cross-sectional figure and needs "
                "several tickers"
            )
        return cfg.headline
    if task == CLASSIFICATION:
        return "roc_auc"
    return "rank_ic_mean" if n_tickers > 1 else "rank_ic"


def round_floats(obj: Any, digits: int = 6) -> Any:
    """Round floats so metrics.json reads well in `dvc metrics diff`; drop undefined values
    (NaN, inf): metrics.json holds numbers only."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            r = round_floats(v, digits)
            if r is not None:
                out[k] = r
        return out
    if isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else round(float(obj), digits)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# -- the whole evaluation ------------------------------------------------------------------------


def evaluate(
    table: pd.DataFrame,
    folds: list[FoldInput],
    prices: pd.DataFrame,
    task: str,
    cfg: EvaluateConfig,
    best_iteration: int,
) -> Evaluation:
    """Predictions, metrics, bootstrap intervals, verdicts and backtest for the test rows."""
    pred = test_predictions(table, folds, task, cfg.threshold)
    t = targets(pred, task)
    n_tickers = int(pred["ticker"].nunique())
    several = n_tickers > 1
    headline = headline_metric(cfg, task, n_tickers)

    metrics: dict[str, Any] = {
        "test": {
            "rows": len(pred),
            "tickers": n_tickers,
            "bars": t.n_bars,
            "folds": len(folds),
            "up_rate": float(t.up.mean()),
            "best_iteration": best_iteration,
        }
    }
    for name in CONTENDERS:
        key = "model" if name == "model" else f"baseline_{name}"
        metrics[key] = contender_metrics(pred, name, t, task, several, cfg.calibration_bins)
    metrics["model"].update(confusion(pred, t))

    scorers = {name: scorer(headline, pred, name, t, task) for name in CONTENDERS}
    intervals, comparisons = bs.paired_bootstrap(scorers, t.bar, t.n_bars, headline, cfg.bootstrap)
    boot: dict[str, float] = {}
    for name, iv in intervals.items():
        boot[f"{name}_lo"], boot[f"{name}_hi"] = iv.lo, iv.hi
    for name, cmp in comparisons.items():
        boot[f"vs_{name}"] = cmp.improvement.point
        boot[f"vs_{name}_lo"], boot[f"vs_{name}_hi"] = cmp.improvement.lo, cmp.improvement.hi
    metrics[f"bootstrap_{headline}"] = boot
    metrics["verdict"] = {name: cmp.verdict for name, cmp in comparisons.items()}

    result = backtest(pred, prices, list(CONTENDERS), cfg.backtest)
    metrics["test"].update(
        {"backtest_bars": result.bars, "periods_per_year": result.periods_per_year}
    )
    for name, stats in result.stats.items():
        metrics[f"backtest_{name}"] = stats

    fold_rows = []
    if len(folds) > 1:
        for f in folds:
            part = pred[pred["fold"] == f.fold].reset_index(drop=True)
            tf = targets(part, task)
            row: dict[str, Any] = {"rows": len(part)}
            for name in CONTENDERS:
                row[name] = scorer(headline, part, name, tf, task).point(len(part), tf.n_bars)
            metrics[f"fold_{f.fold}"] = row
            fold_rows.append(
                {
                    "fold": f.fold,
                    "start": part["timestamp"].min(),
                    "end": part["timestamp"].max(),
                    **row,
                }
            )

    context = {
        "task": task,
        "headline": headline,
        "higher_is_better": bs.HIGHER_IS_BETTER[headline],
        "test_start": pred["timestamp"].min(),
        "test_end": pred["timestamp"].max(),
        "tickers": sorted(pred["ticker"].unique().tolist()),
        "baselines": describe(task),
        "linear_kind": folds[-1].baselines["linear"]["kind"],
        "folds": fold_rows,
        "bootstrap": cfg.bootstrap,
        "backtest": cfg.backtest,
    }
    return Evaluation(
        metrics=round_floats(metrics),
        predictions=pred,
        backtest=result,
        headline=headline,
        intervals=intervals,
        comparisons=comparisons,
        context=context,
    )
