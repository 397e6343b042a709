"""Did the model learn anything? Three plain symptoms of a model that did not, whatever its
bootstrap interval says: boosting kept only the first few rounds, the model makes the same call
on every test row, or its scores barely vary (few distinct values, a spread far below the
baselines', or one score for every ticker on most bars). A model showing any of them is
reported as having learned nothing the baselines do not know, and no win is claimed for it.

The bounds, stated in the report beside the numbers:
- FEW_ROUNDS: at most 5 boosting rounds kept. Early stopping keeps the round where the
  validation loss was lowest; a best round among the first 5 means that, at any usual learning
  rate (the default 0.03, or up to 0.1), the model is its prior nudged by a fraction of one tree.
- A single call: the same up/down call on every test row (its calls are then the majority
  baseline's, and its accuracy says nothing about skill).
- FEW_SCORES_SHARE: distinct scores on fewer than 5% of the test rows (a model of one tree of
  15 leaves has at most 15); MIN_SPREAD_RATIO: a standard deviation of the stated value (P(up),
  or the predicted return) under a tenth of the widest baseline's; TIED_BARS: one score for
  every ticker on at least half the bars (with several tickers), so it cannot rank them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FEW_ROUNDS = 5
FEW_SCORES_SHARE = 0.05
MIN_SPREAD_RATIO = 0.1
TIED_BARS = 0.5


@dataclass(frozen=True)
class Diagnostics:
    """The model's symptoms on the test rows, as numbers (metrics.json's `diagnostics`)."""

    rounds_kept: int  # the fewest boosting rounds any fold's model kept
    rows: int
    up_share: float  # share of test rows the model calls up
    distinct_scores: int
    score_spread: float  # standard deviation of the model's stated value over the test rows
    baseline_spread: float  # the widest baseline's
    baseline: str  # which baseline that is
    tied_bar_share: float  # bars whose tickers all get the same score (NaN: one ticker)
    folds: int = 1  # walk-forward folds (rounds_kept is the fewest of any of them)

    @property
    def majority_call_share(self) -> float:
        """Share of the test rows given the model's more frequent call."""
        return max(self.up_share, 1.0 - self.up_share)

    @property
    def spread_ratio(self) -> float:
        """The model's spread over the widest baseline's (NaN when every baseline is constant)."""
        return self.score_spread / self.baseline_spread if self.baseline_spread > 0 else np.nan

    @property
    def few_rounds(self) -> bool:
        return self.rounds_kept <= FEW_ROUNDS

    @property
    def single_call(self) -> bool:
        return self.up_share in (0.0, 1.0)

    @property
    def few_scores(self) -> bool:
        return self.distinct_scores < FEW_SCORES_SHARE * self.rows

    @property
    def narrow(self) -> bool:
        return bool(self.spread_ratio < MIN_SPREAD_RATIO)  # NaN compares False

    @property
    def tied(self) -> bool:
        return bool(self.tied_bar_share >= TIED_BARS)

    @property
    def flat_scores(self) -> bool:
        return self.few_scores or self.narrow or self.tied

    @property
    def degenerate(self) -> bool:
        """Whether the model learned nothing the baselines do not know."""
        return self.few_rounds or self.single_call or self.flat_scores

    def section(self) -> dict[str, float]:
        """metrics.json's figures (numbers only; flags as 0/1)."""
        return {
            "rounds_kept": self.rounds_kept,
            "majority_call_share": self.majority_call_share,
            "up_call_share": self.up_share,
            "distinct_scores": self.distinct_scores,
            "score_spread": self.score_spread,
            "baseline_spread": self.baseline_spread,
            "spread_ratio": self.spread_ratio,
            "tied_bar_share": self.tied_bar_share,
            "few_rounds": int(self.few_rounds),
            "single_call": int(self.single_call),
            "flat_scores": int(self.flat_scores),
            "degenerate": int(self.degenerate),
        }


def tied_bar_share(score: np.ndarray, bar: np.ndarray) -> float:
    """Share of the bars with several rows whose rows all have the same score (NaN: none)."""
    g = pd.Series(score).groupby(bar)
    several = (g.size() > 1).to_numpy()
    if not several.any():
        return float("nan")
    tied = (g.max() == g.min()).to_numpy() & several
    return float(tied.sum() / several.sum())


def diagnose(
    pred: pd.DataFrame,
    bar: np.ndarray,
    rounds_kept: int,
    baselines: tuple[str, ...],
    folds: int = 1,
) -> Diagnostics:
    """The model's symptoms from the test predictions (`score_`, `value_`, `up_<contender>`),
    `bar`: each row's bar; `rounds_kept`: the fewest rounds any of the `folds` models kept."""
    value = pred["value_model"].to_numpy(dtype=float)
    spreads = {n: float(np.nanstd(pred[f"value_{n}"].to_numpy(dtype=float))) for n in baselines}
    widest = max(spreads, key=lambda n: spreads[n])
    score = pred["score_model"].to_numpy(dtype=float)
    return Diagnostics(
        rounds_kept=int(rounds_kept),
        rows=len(pred),
        up_share=float(pred["up_model"].to_numpy(dtype=bool).mean()),
        distinct_scores=len(np.unique(score[np.isfinite(score)])),
        score_spread=float(np.nanstd(value)),
        baseline_spread=spreads[widest],
        baseline=widest,
        tied_bar_share=tied_bar_share(score, bar),
        folds=folds,
    )
