"""The metric registry: every figure evaluate reports for a contender, in one place.

Each entry says what the metric is called (in metrics.json and in the report), which way is
better, which task's evaluation reports it, whether it is computed per bar (cross-sectional:
only with several tickers), what it means (the report's glossary) and how it is computed. A
metric with a `scorer` (a bootstrap-ready weighted statistic) can be the bootstrapped headline;
one with only a `value` is reported as a point figure. Evaluate, bootstrap and report read this
table, and `evaluate.headline` in the params schema lists exactly its headline-capable names (a
test holds them equal): adding a metric means adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from updown.assess.scoring import Scored, expected_calibration_error
from updown.assess.weighted import (
    Scorer,
    weighted_auc,
    weighted_balanced_accuracy,
    weighted_bar_mean,
    weighted_corr,
    weighted_mean,
    weighted_rmse,
)
from updown.contract import CLASSIFICATION, REGRESSION, Task
from updown.errors import UpdownError

EPS = 1e-15  # probabilities are clipped to [EPS, 1 - EPS] in the log loss
BOTH: frozenset[Task] = frozenset({CLASSIFICATION, REGRESSION})
ONLY_CLASSIFICATION: frozenset[Task] = frozenset({CLASSIFICATION})
ONLY_REGRESSION: frozenset[Task] = frozenset({REGRESSION})


@dataclass(frozen=True)
class Metric:
    name: str  # the key in metrics.json and in `evaluate.headline`
    display: str  # the report's column header
    glossary: str  # the report's one-sentence definition
    higher_is_better: bool
    tasks: frozenset[Task]  # the tasks whose evaluation reports it (and may headline it)
    per_bar: bool = False  # a cross-sectional figure: computed per bar, needs several tickers
    scorer: Callable[[Scored], Scorer] | None = None  # bootstrap-ready: can be the headline
    value: Callable[[Scored], float] | None = None  # the point figure, if not the scorer's

    def __post_init__(self) -> None:
        if self.scorer is None and self.value is None:
            raise TypeError(f"metric {self.name}: give a scorer or a value")

    @property
    def headline(self) -> bool:
        """Whether it can be the bootstrapped headline (it has a weighted scorer)."""
        return self.scorer is not None

    def applies(self, task: str, several: bool) -> bool:
        """Whether a `task` evaluation on `several` tickers (or one) reports it."""
        return task in self.tasks and (several or not self.per_bar)

    def score(self, s: Scored) -> Scorer:
        """The bootstrap-ready statistic of contender `s` (headline-capable metrics only)."""
        if self.scorer is None:
            raise UpdownError(f"evaluate.headline: {self.name} cannot be bootstrapped")
        return self.scorer(s)

    def point(self, s: Scored) -> float:
        """The figure metrics.json reports for contender `s` (NaN when undefined)."""
        if self.value is not None:
            return self.value(s)
        return self.score(s).point(s.n_rows, s.t.n_bars)


# -- how each metric is computed -----------------------------------------------------------------


def _log_loss(s: Scored) -> Scorer:
    p = np.clip(s.value, EPS, 1 - EPS)
    return weighted_mean(-(s.t.y * np.log(p) + (1 - s.t.y) * np.log(1 - p)))


def _rank_ic(s: Scored) -> Scorer:
    return weighted_corr(pd.Series(s.score).rank().to_numpy(), pd.Series(s.t.ret).rank().to_numpy())


def _bar_stats(per_bar: np.ndarray) -> tuple[float, float, int]:
    """Mean and standard deviation (ddof 1) over the bars where the figure is defined, and
    their number (NaN where too few bars)."""
    v = per_bar[np.isfinite(per_bar)]
    mean = float(v.mean()) if len(v) else float("nan")
    std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return mean, std, len(v)


def _bar_mean(per_bar: np.ndarray) -> float:
    return _bar_stats(per_bar)[0]


def _bar_ir(per_bar: np.ndarray) -> float:
    mean, std, _ = _bar_stats(per_bar)
    return mean / std if std else float("nan")


def _bar_t(per_bar: np.ndarray) -> float:
    mean, std, n = _bar_stats(per_bar)
    return float(mean / std * np.sqrt(n)) if std else float("nan")


# -- the registry, in metrics.json's order -------------------------------------------------------

REGISTRY: tuple[Metric, ...] = (
    Metric(
        "rmse", "RMSE", "root mean squared error of the predicted return.", False,
        ONLY_REGRESSION, scorer=lambda s: weighted_rmse(s.value - s.t.y),
    ),
    Metric(
        "mae", "MAE", "mean absolute error of the predicted return.", False,
        ONLY_REGRESSION, scorer=lambda s: weighted_mean(np.abs(s.value - s.t.y)),
    ),
    Metric(
        "ic", "IC",
        "Pearson correlation of prediction and realised return over all test rows.", True,
        ONLY_REGRESSION, scorer=lambda s: weighted_corr(s.score, s.t.ret),
    ),
    Metric(
        "rank_ic", "rank IC",
        "Spearman (rank) correlation of prediction and realised return over all rows.", True,
        ONLY_REGRESSION, scorer=_rank_ic,
    ),
    Metric(
        "accuracy", "accuracy", "share of test rows where the up/down call was right.", True,
        BOTH, scorer=lambda s: weighted_mean(s.hit, s.t.bar, s.t.n_bars),
    ),
    Metric(
        "balanced_accuracy", "balanced accuracy",
        "mean of the hit rates on up rows and on down rows; 0.5 for any rule that always says "
        "the same thing.", True,
        ONLY_CLASSIFICATION,
        scorer=lambda s: weighted_balanced_accuracy(s.hit, s.t.up, s.t.bar, s.t.n_bars),
    ),
    Metric(
        "roc_auc", "ROC AUC",
        "probability that a random up row is ranked above a random down row; 0.5 is no skill.",
        True, BOTH, scorer=lambda s: weighted_auc(s.score, s.t.up, s.t.bar, s.t.n_bars),
    ),
    Metric(
        "log_loss", "log loss",
        "mean negative log-likelihood of the stated P(up); lower is better; ln 2 = 0.693 for a "
        "coin flip.", False,
        ONLY_CLASSIFICATION, scorer=_log_loss,
    ),
    Metric(
        "brier", "Brier score", "mean squared error of the stated P(up); 0.25 for a constant 0.5.",
        False, ONLY_CLASSIFICATION, scorer=lambda s: weighted_mean((s.value - s.t.y) ** 2),
    ),
    Metric(
        "ece", "calibration error",
        "expected calibration error: mean gap between stated and observed frequencies over "
        "equal-count bins.", False,
        ONLY_CLASSIFICATION, value=lambda s: expected_calibration_error(s.value, s.t.y, s.bins),
    ),
    Metric(
        "ic_mean", "mean IC per bar",
        "mean over bars of the cross-sectional Pearson correlation (as Qlib's IC).", True,
        BOTH, per_bar=True,
        scorer=lambda s: weighted_bar_mean(s.ic_by_bar), value=lambda s: _bar_mean(s.ic_by_bar),
    ),
    Metric(
        "ic_ir", "ICIR", "mean IC divided by its standard deviation across bars (Qlib's ICIR).",
        True, BOTH, per_bar=True, value=lambda s: _bar_ir(s.ic_by_bar),
    ),
    Metric(
        "rank_ic_mean", "mean rank IC per bar",
        "mean over bars of the cross-sectional rank correlation (Qlib's Rank IC).", True,
        BOTH, per_bar=True,
        scorer=lambda s: weighted_bar_mean(s.rank_ic_by_bar),
        value=lambda s: _bar_mean(s.rank_ic_by_bar),
    ),
    Metric(
        "rank_ic_ir", "rank ICIR", "mean rank IC divided by its standard deviation across bars.",
        True, BOTH, per_bar=True, value=lambda s: _bar_ir(s.rank_ic_by_bar),
    ),
    Metric(
        "rank_ic_t", "rank IC t-stat",
        "t-statistic of the mean rank IC (mean / std x sqrt(bars)); above 2 is unlikely by "
        "chance if bars were independent.", True,
        BOTH, per_bar=True, value=lambda s: _bar_t(s.rank_ic_by_bar),
    ),
)  # fmt: skip
METRICS: dict[str, Metric] = {m.name: m for m in REGISTRY}
HEADLINES: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.headline)


def reported(task: str, several: bool) -> tuple[Metric, ...]:
    """The metrics a `task` evaluation reports for each contender, in metrics.json's order;
    the per-bar ones only when there are `several` tickers."""
    return tuple(m for m in REGISTRY if m.applies(task, several))


def display_name(name: str) -> str:
    return METRICS[name].display if name in METRICS else name


def resolve_headline(choice: str, task: str, n_tickers: int) -> Metric:
    """The metric `evaluate.headline` names (auto: ROC AUC for a classification label, else the
    rank IC, per bar when there are several tickers), checked against the task and tickers."""
    if choice == "auto":
        if task == CLASSIFICATION:
            return METRICS["roc_auc"]
        return METRICS["rank_ic_mean" if n_tickers > 1 else "rank_ic"]
    if choice not in METRICS or not METRICS[choice].headline:
        raise UpdownError(
            f"evaluate.headline: unknown metric {choice!r}; use auto or one of "
            f"{', '.join(HEADLINES)}"
        )
    metric = METRICS[choice]
    if task not in metric.tasks:
        usable = [m.name for m in REGISTRY if m.headline and task in m.tasks]
        raise UpdownError(
            f"evaluate.headline: {choice} is not defined for a {task} label; use auto or one "
            f"of {', '.join(usable)}"
        )
    if metric.per_bar and n_tickers < 2:
        raise UpdownError(
            f"evaluate.headline: {choice} is a cross-sectional figure and needs several tickers"
        )
    return metric
