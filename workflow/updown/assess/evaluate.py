"""Score the model and its baselines on the test rows (the same rows for every contender), put a
block-bootstrap interval on the headline metric, and backtest every contender's signals.

In walk-forward mode each fold's model and baselines score that fold's test block only; the
metrics are computed per fold and on all folds' test rows pooled. Which metrics, and how each
is computed, comes from the metric registry (`updown.assess.metrics`).

A verdict is only given where the data supports one: a bootstrap setting that can never give a
sound interval is refused, a test period too short for its blocks gets no interval and no
verdict (`updown.assess.bootstrap`), and a model that learned nothing (`updown.assess.
diagnostics`) is credited with no win, whatever its interval says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from updown.assess import bootstrap as bs
from updown.assess.backtest import BacktestResult, backtest
from updown.assess.diagnostics import Diagnostics, diagnose
from updown.assess.metrics import Metric, reported, resolve_headline
from updown.assess.scoring import Scored, Targets, targets
from updown.assess.signal import SignalSheet, signal_sheet
from updown.assess.weighted import Scorer
from updown.config import BacktestConfig, BootstrapConfig, EvaluateConfig
from updown.contract import CLASSIFICATION, Task
from updown.errors import UpdownError
from updown.learn.baselines import BASELINES, Contender, describe, predict_baselines

CONTENDERS = ("model", *BASELINES)
MIN_TEST_ROWS = 20


@dataclass(frozen=True)
class FoldInput:
    """What one fold needs at test time: its blocks, its model and its fitted baselines."""

    fold: int
    blocks: pd.Series
    model_text: str
    baselines: dict[str, Any]


def contender_label(name: str, linear_kind: str) -> str:
    """A contender's (or buy and hold's) name as a reader sees it: "linear (ridge)"."""
    if name == "linear":
        return f"linear ({linear_kind})"
    return name.replace("_", " ")


@dataclass(frozen=True)
class FoldScore:
    """The headline metric of every contender on one walk-forward fold's own test rows."""

    fold: int
    start: pd.Timestamp
    end: pd.Timestamp
    rows: int
    scores: dict[str, float]  # contender -> headline

    def section(self) -> dict[str, Any]:
        """metrics.json's `fold_<k>` section."""
        return {"rows": self.rows, **self.scores}


@dataclass(frozen=True)
class EvaluationContext:
    """What the plots and the report need beyond the metrics."""

    task: Task
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    tickers: tuple[str, ...]  # sorted
    baselines: Mapping[str, str]  # baseline -> one sentence on what it does
    linear_kind: str  # the linear baseline's model (logistic, ridge)
    folds: tuple[FoldScore, ...]  # walk-forward folds (empty for one holdout)
    bootstrap: BootstrapConfig
    backtest: BacktestConfig

    def label(self, name: str) -> str:
        """A contender's (or buy and hold's) name as a reader sees it."""
        return contender_label(name, self.linear_kind)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]  # reports/metrics.json (numbers only, rounded)
    predictions: pd.DataFrame
    backtest: BacktestResult
    headline: str
    intervals: dict[str, bs.Interval]
    comparisons: dict[str, bs.Comparison]  # what the bootstrap says (metrics' `verdict`: final)
    context: EvaluationContext
    design: bs.Design  # the bootstrap's blocks, and why there is no interval if there is none
    diagnostics: Diagnostics
    signal: SignalSheet | None = None  # the signal sheet (updown.assess.signal)

    @property
    def verdicts(self) -> dict[str, int]:
        """The verdict against each baseline (metrics.json's `verdict`)."""
        return final_verdicts(self.comparisons, self.diagnostics)


def final_verdicts(comparisons: dict[str, bs.Comparison], diag: Diagnostics) -> dict[str, int]:
    """The bootstrap's verdict against each baseline, except that a model that learned nothing
    is credited with no win (1 becomes 0, cannot tell; a loss stays a loss)."""
    win_withheld = diag.degenerate
    return {n: 0 if win_withheld and c.verdict == 1 else c.verdict for n, c in comparisons.items()}


def section_of(name: str) -> str:
    """The metrics.json section holding a contender's metrics."""
    return "model" if name == "model" else f"baseline_{name}"


# -- predictions ---------------------------------------------------------------------------------


def _columns(name: str, c: Contender) -> dict[str, np.ndarray]:
    return {f"score_{name}": c.score, f"value_{name}": c.value, f"up_{name}": c.up}


def fold_predictions(
    table: pd.DataFrame, fold: FoldInput, task: str, threshold: float, threads: int = 1
) -> pd.DataFrame:
    """One row per test row of `fold`: keys, label, and every contender's score, value and call;
    the model scores on `threads` threads (each row's score is the same on any number)."""
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
    value = booster.predict(test[booster.feature_name()], num_threads=threads)
    value = np.asarray(value, dtype=float)
    cut = threshold if task == CLASSIFICATION else 0.0
    cols = _columns("model", Contender(score=value, value=value, up=value > cut))
    for name, c in predict_baselines(test, fold.baselines, task, threshold).items():
        cols.update(_columns(name, c))
    return pd.concat([out, pd.DataFrame(cols)], axis=1)


def test_predictions(
    table: pd.DataFrame, folds: list[FoldInput], task: str, threshold: float, threads: int = 1
) -> pd.DataFrame:
    """Every fold's test predictions, pooled and sorted by (ticker, timestamp)."""
    pred = pd.concat([fold_predictions(table, f, task, threshold, threads) for f in folds])
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


def contender_metrics(s: Scored, task: str, several: bool) -> dict[str, float]:
    """Every metric the registry reports for `task`, for one contender."""
    return {m.name: m.point(s) for m in reported(task, several)}


def confusion(pred: pd.DataFrame, t: Targets, name: str = "model") -> dict[str, int]:
    call = pred[f"up_{name}"].to_numpy(dtype=bool)
    return {
        "tn": int(np.sum(~call & ~t.up)),
        "fp": int(np.sum(call & ~t.up)),
        "fn": int(np.sum(~call & t.up)),
        "tp": int(np.sum(call & t.up)),
    }


def round_floats(obj: Any, digits: int = 6) -> Any:
    """Round floats so metrics.json reads well in `dvc metrics diff`; drop undefined values
    (NaN, inf): metrics.json holds numbers only. An explicit None stays (null: a figure the
    data cannot give, such as a PSR on too few bars, whose key readers expect)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            r = round_floats(v, digits)
            if r is not None or v is None:
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


def block_summary(
    pred: pd.DataFrame, t: Targets, n_folds: int, best_iteration: int
) -> dict[str, Any]:
    """metrics.json's `test` section: what was tested (the backtest adds its bars)."""
    return {
        "rows": len(pred),
        "tickers": int(pred["ticker"].nunique()),
        "bars": t.n_bars,
        "folds": n_folds,
        "up_rate": float(t.up.mean()),
        "best_iteration": best_iteration,
    }


def bootstrap_section(
    intervals: dict[str, bs.Interval], comparisons: dict[str, bs.Comparison]
) -> dict[str, float]:
    """metrics.json's `bootstrap_<headline>` section: every contender's interval and the
    model's advantage over each baseline with its interval."""
    boot: dict[str, float] = {}
    for name, iv in intervals.items():
        boot[f"{name}_lo"], boot[f"{name}_hi"] = iv.lo, iv.hi
    for name, cmp in comparisons.items():
        boot[f"vs_{name}"] = cmp.improvement.point
        boot[f"vs_{name}_lo"], boot[f"vs_{name}_hi"] = cmp.improvement.lo, cmp.improvement.hi
    return boot


def fold_scores(
    pred: pd.DataFrame, folds: list[FoldInput], task: str, headline: Metric, bins: int
) -> tuple[FoldScore, ...]:
    """The headline of every contender on each walk-forward fold's own test rows (none for a
    single holdout)."""
    if len(folds) < 2:
        return ()
    out = []
    for f in folds:
        part = pred[pred["fold"] == f.fold].reset_index(drop=True)
        tf = targets(part, task)
        scores = {
            name: headline.score(Scored(part, name, tf, bins)).point(len(part), tf.n_bars)
            for name in CONTENDERS
        }
        start, end = part["timestamp"].min(), part["timestamp"].max()
        out.append(FoldScore(f.fold, start, end, len(part), scores))
    return tuple(out)


def evaluation_context(
    pred: pd.DataFrame,
    folds: list[FoldInput],
    fold_rows: tuple[FoldScore, ...],
    task: Task,
    cfg: EvaluateConfig,
) -> EvaluationContext:
    return EvaluationContext(
        task=task,
        test_start=pred["timestamp"].min(),
        test_end=pred["timestamp"].max(),
        tickers=tuple(sorted(pred["ticker"].unique().tolist())),
        baselines=describe(task),
        linear_kind=folds[-1].baselines["linear"]["kind"],
        folds=fold_rows,
        bootstrap=cfg.bootstrap,
        backtest=cfg.backtest,
    )


def rounds_kept(folds: list[FoldInput]) -> int:
    """The fewest boosting rounds any fold's model kept (train saves the best round's model)."""
    import lightgbm as lgb

    return min(lgb.Booster(model_str=f.model_text).current_iteration() for f in folds)


def diagnostics_section(
    diag: Diagnostics,
    design: bs.Design,
    verdicts: dict[str, int],
    comparisons: dict[str, bs.Comparison],
) -> dict[str, float]:
    """metrics.json's `diagnostics`: the model's symptoms, the bootstrap's blocks, and whether
    the interval or a win was withheld."""
    withheld = sum(verdicts[n] != c.verdict for n, c in comparisons.items())
    return {
        **diag.section(),
        "bootstrap_blocks": design.blocks,
        "interval": int(design.no_interval is None),
        "wins_withheld": withheld,
    }


def intervals_for(
    scorers: dict[str, Scorer], t: Targets, metric: str, cfg: BootstrapConfig, horizon: int
) -> tuple[bs.Design, dict[str, bs.Interval], dict[str, bs.Comparison]]:
    """The bootstrap design, and every interval and comparison it supports (none, with verdict
    0, when the test period is too short for its blocks)."""
    design = bs.check_design(t.n_bars, horizon, cfg)
    if design.no_interval is not None:
        return design, *bs.no_interval(scorers, len(t.bar), t.n_bars, metric)
    return design, *bs.paired_bootstrap(scorers, t.bar, t.n_bars, metric, cfg)


def evaluate(
    table: pd.DataFrame,
    folds: list[FoldInput],
    prices: pd.DataFrame,
    task: Task,
    cfg: EvaluateConfig,
    best_iteration: int,
    *,
    horizon: int,
    entry: str,
) -> Evaluation:
    """Predictions, metrics, bootstrap intervals, verdicts and backtest for the test rows;
    `horizon`: the label's, in bars (the bootstrap's blocks must be longer); `entry`: where
    the label's return starts (updown.returns), the signal sheet's forward returns too."""
    bs.check_settings(cfg.bootstrap, horizon)
    pred = test_predictions(table, folds, task, cfg.threshold, cfg.threads)
    t = targets(pred, task)
    n_tickers = int(pred["ticker"].nunique())
    headline = resolve_headline(cfg.headline, task, n_tickers)
    scored = {name: Scored(pred, name, t, cfg.calibration_bins) for name in CONTENDERS}

    metrics: dict[str, Any] = {"test": block_summary(pred, t, len(folds), best_iteration)}
    for name, s in scored.items():
        metrics[section_of(name)] = contender_metrics(s, task, n_tickers > 1)
    metrics["model"].update(confusion(pred, t))

    scorers = {name: headline.score(s) for name, s in scored.items()}
    design, intervals, comparisons = intervals_for(
        scorers, t, headline.name, cfg.bootstrap, horizon
    )
    metrics[f"bootstrap_{headline.name}"] = bootstrap_section(intervals, comparisons)
    diag = diagnose(pred, t.bar, rounds_kept(folds), BASELINES, len(folds))

    result = backtest(pred, prices, list(CONTENDERS), cfg.backtest, task)
    metrics["test"].update(
        {"backtest_bars": result.bars, "periods_per_year": result.periods_per_year}
    )
    metrics.update(result.sections())  # backtest_<name>, backtest_<portfolio>_<name>

    sheet = signal_sheet(
        pred, prices, list(CONTENDERS), entry, cfg.horizons, cfg.quantiles, cfg.bootstrap
    )
    metrics.update(sheet.sections())
    fold_rows = fold_scores(pred, folds, task, headline, cfg.calibration_bins)
    for f in fold_rows:
        metrics[f"fold_{f.fold}"] = f.section()
    verdicts = final_verdicts(comparisons, diag)
    metrics["verdict"] = verdicts
    metrics["diagnostics"] = diagnostics_section(diag, design, verdicts, comparisons)
    return Evaluation(
        metrics=round_floats(metrics),
        predictions=pred,
        backtest=result,
        headline=headline.name,
        intervals=intervals,
        comparisons=comparisons,
        context=evaluation_context(pred, folds, fold_rows, task, cfg),
        design=design,
        diagnostics=diag,
        signal=sheet,
    )
