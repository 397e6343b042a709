"""What every metric is computed from: the test rows' targets (the label, whether it went up, the
return an IC correlates with, the bar of each row) and one contender's predictions on them, with
the cross-sectional (per bar) correlations and the calibration bins some metrics share."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from updown.contract import CLASSIFICATION


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


@dataclass(frozen=True)
class Scored:
    """One contender's predictions on the test rows (`pred`'s score_, value_ and up_<name>
    columns, read on first use) beside the targets; `bins`: the calibration bins."""

    pred: pd.DataFrame
    name: str
    t: Targets
    bins: int = 10

    @property
    def n_rows(self) -> int:
        return len(self.pred)

    @cached_property
    def score(self) -> np.ndarray:
        """What the contender ranks rows by."""
        return self.pred[f"score_{self.name}"].to_numpy(dtype=float)

    @cached_property
    def value(self) -> np.ndarray:
        """What it states: P(up), or the predicted return."""
        return self.pred[f"value_{self.name}"].to_numpy(dtype=float)

    @cached_property
    def up(self) -> np.ndarray:
        """Its call: up (True) or down."""
        return self.pred[f"up_{self.name}"].to_numpy(dtype=bool)

    @cached_property
    def hit(self) -> np.ndarray:
        """1.0 where the call was right."""
        return (self.up == self.t.up).astype(float)

    @cached_property
    def ic_by_bar(self) -> np.ndarray:
        """Per bar: the cross-sectional Pearson correlation of the score and the return."""
        return per_bar_corr(self.t.bar, self.score, self.t.ret, self.t.n_bars)

    @cached_property
    def rank_ic_by_bar(self) -> np.ndarray:
        """Per bar: the cross-sectional rank correlation of the score and the return."""
        ranks = ranks_within_bar(self.t.bar, self.score)
        return per_bar_corr(self.t.bar, ranks, self.t.ret_rank, self.t.n_bars)
