"""Moving-block bootstrap over time for the headline metric, paired across contenders.

Rows are not independent: the tickers of one bar share the market's move, and neighbouring bars
share volatility regimes (and, with a horizon above one bar, overlapping labels). So a resample
draws whole bars (every ticker of a bar together) in runs of `block_bars` consecutive bars. Each
resample is a multiplicity per bar; every contender is scored on the same resample, so the
difference model - baseline is bootstrapped pairwise, which is far tighter than comparing two
separate intervals.

Every metric is written as a weighted statistic (`updown.assess.weighted`: a row counts as often
as its bar was drawn), so no resampled frame is ever built. Which way is better comes from the
metric registry (`updown.assess.metrics`).

An interval is only as good as the resamples behind it, so the design is checked first
(`check_settings`, `check_design`; the bounds are below, and the report's verdict note states
them). A setting that can never give a sound interval is refused with its key; a test period too
short for the blocks gives no interval at all, and no verdict, rather than a collapsed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updown.assess.metrics import METRICS
from updown.assess.weighted import Scorer
from updown.config import BootstrapConfig
from updown.errors import UpdownError

# The bounds of a sound interval. MIN_BLOCKS: a resample must draw at least 20 whole blocks, so a
# block may be at most 1/20 of the test bars. With fewer blocks every resample repeats the same few
# stretches of time and the percentile interval is too narrow; with a single block every resample
# is the test period itself and the interval is a point (then anything "beats" anything). In
# simulations of two skill-free scores (400 bars of two rows, 300-400 trials) a 95% interval
# called them different 8-11% of the time with 10 blocks of independent bars (14% with serially
# dependent labels, 19% with 5 blocks, 33% with 3), and 6-7% with 20 or more, where 5% is right.
# Blocks must also be longer than the label horizon: labels of bars less than `horizon` apart
# share returns, and a block that cuts them apart drops that dependence (with 5- and 10-bar
# overlapping labels, blocks of one bar called two skill-free scores different 15% and 26% of the
# time, blocks longer than the horizon 5-8%). MIN_CONFIDENCE: "beats" is only claimed from an
# interval of at least 90%. MIN_TAIL_DRAWS: at least 5 resamples beyond each end of the interval,
# or its ends are the extremes of a handful of draws.
MIN_BLOCKS = 20
MIN_CONFIDENCE = 0.9
MIN_TAIL_DRAWS = 5


def min_resamples(confidence: float) -> int:
    """The fewest resamples that leave MIN_TAIL_DRAWS beyond each end of the interval."""
    return math.ceil(2 * MIN_TAIL_DRAWS / (1.0 - confidence) - 1e-9)


def check_settings(cfg: BootstrapConfig, horizon: int) -> None:
    """Refuse (naming the key) a bootstrap setting that can never give a sound interval,
    whatever the test period: too low a confidence, too few resamples for its tails, or blocks
    no longer than the label horizon."""
    key = "evaluate.bootstrap"
    if cfg.confidence < MIN_CONFIDENCE:
        raise UpdownError(
            f"{key}.confidence: {cfg.confidence:g} is below {MIN_CONFIDENCE:g}: a verdict "
            f"resting on a {cfg.confidence:.0%} interval would call noise a win; use "
            f"{MIN_CONFIDENCE:g} or more (0.95 is usual)"
        )
    needed = min_resamples(cfg.confidence)
    if cfg.resamples < needed:
        raise UpdownError(
            f"{key}.resamples: {cfg.resamples} resamples leave fewer than {MIN_TAIL_DRAWS} draws "
            f"beyond each end of a {cfg.confidence:.0%} interval, whose ends would then be the "
            f"extremes of a handful of draws; use at least {needed}"
        )
    if cfg.block_bars <= horizon:
        raise UpdownError(
            f"{key}.block_bars: blocks of {cfg.block_bars} bar(s) are not longer than the label "
            f"horizon (label.horizon: {horizon}): labels of neighbouring bars overlap and a "
            f"block must keep them together; use at least {horizon + 1} (and at most a "
            f"{MIN_BLOCKS}th of the test bars)"
        )


@dataclass(frozen=True)
class Design:
    """How the test bars are cut into blocks, and why there is no interval (None: there is)."""

    n_bars: int
    block_bars: int
    horizon: int
    no_interval: str | None = None

    @property
    def blocks(self) -> float:
        """Blocks of `block_bars` the test period holds (a resample draws this many)."""
        return self.n_bars / self.block_bars

    @property
    def max_block(self) -> int:
        """The longest block that leaves MIN_BLOCKS blocks in the test period."""
        return self.n_bars // MIN_BLOCKS


def check_design(n_bars: int, horizon: int, cfg: BootstrapConfig) -> Design:
    """Whether `n_bars` test bars support an interval with blocks of `cfg.block_bars` (after
    `check_settings`): at least MIN_BLOCKS blocks, each longer than the label horizon."""
    d = Design(n_bars, cfg.block_bars, horizon)
    shortest = MIN_BLOCKS * (horizon + 1)
    if n_bars < shortest:
        why = (
            f"the test period has {n_bars} bars, too few for {MIN_BLOCKS} blocks longer than "
            f"the label horizon ({horizon} bar(s)): an interval needs at least {shortest} test "
            "bars (lengthen the test period: split.valid_end, data.end)"
        )
    elif cfg.block_bars > d.max_block:
        why = (
            f"blocks of evaluate.bootstrap.block_bars={cfg.block_bars} bars cut the {n_bars} "
            f"test bars into {d.blocks:.1f} block(s), and an interval needs at least "
            f"{MIN_BLOCKS}: set block_bars between {horizon + 1} and {d.max_block}"
        )
    else:
        return d
    return Design(n_bars, cfg.block_bars, horizon, why)


def block_counts(n_bars: int, cfg: BootstrapConfig) -> np.ndarray:
    """(resamples, n_bars) multiplicities: how often each bar is drawn in each resample."""
    rng = np.random.default_rng(cfg.seed)
    block = max(1, min(cfg.block_bars, n_bars))
    n_blocks = -(-n_bars // block)
    starts = rng.integers(0, n_bars - block + 1, size=(cfg.resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(cfg.resamples, -1)[:, :n_bars]
    cells = (np.arange(cfg.resamples)[:, None] * n_bars + idx).reshape(-1)
    counts = np.bincount(cells, minlength=cfg.resamples * n_bars)
    return counts.reshape(cfg.resamples, n_bars).astype(np.int32)


@dataclass(frozen=True)
class Interval:
    point: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Comparison:
    """Model minus baseline, signed so that positive always means "the model is better"."""

    improvement: Interval
    verdict: int  # 1 better beyond the interval, -1 worse beyond it, 0 cannot tell


def _interval(point: float, draws: np.ndarray, confidence: float) -> Interval:
    alpha = (1.0 - confidence) / 2.0
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return Interval(point, float("nan"), float("nan"))
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return Interval(point, float(lo), float(hi))


def no_interval(
    scorers: dict[str, Scorer], n_rows: int, n_bars: int, metric: str, reference: str = "model"
) -> tuple[dict[str, Interval], dict[str, Comparison]]:
    """The point figures without intervals, and no verdict (0) against any contender: what a
    test period too short for the blocks supports."""
    nan = float("nan")
    points = {name: s.point(n_rows, n_bars) for name, s in scorers.items()}
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    intervals = {name: Interval(p, nan, nan) for name, p in points.items()}
    comparisons = {
        name: Comparison(Interval(sign * (points[reference] - points[name]), nan, nan), 0)
        for name in scorers
        if name != reference
    }
    return intervals, comparisons


def paired_bootstrap(
    scorers: dict[str, Scorer],
    bar_of_row: np.ndarray,
    n_bars: int,
    metric: str,
    cfg: BootstrapConfig,
    reference: str = "model",
) -> tuple[dict[str, Interval], dict[str, Comparison]]:
    """Confidence intervals of `metric` for every contender and of the reference's improvement
    over each other contender, all from the same block resamples of the bars."""
    counts = block_counts(n_bars, cfg)
    draws = {name: np.empty(cfg.resamples) for name in scorers}
    one_by_one = {name: s for name, s in scorers.items() if s.batch is None}
    for name, scorer in scorers.items():
        if scorer.batch is not None:
            draws[name][:] = scorer.batch(counts)
    rows_needed = any(not s.per_bar for s in one_by_one.values())
    n_rows = len(bar_of_row)
    for b in range(cfg.resamples if one_by_one else 0):
        bar_w = counts[b].astype(float)
        row_w = bar_w[bar_of_row] if rows_needed else np.empty(0)
        for name, scorer in one_by_one.items():
            draws[name][b] = scorer.fn(row_w, bar_w)
    points = {name: s.point(n_rows, n_bars) for name, s in scorers.items()}
    intervals = {name: _interval(points[name], draws[name], cfg.confidence) for name in scorers}
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    comparisons = {}
    for name in scorers:
        if name == reference:
            continue
        diff = sign * (draws[reference] - draws[name])
        iv = _interval(sign * (points[reference] - points[name]), diff, cfg.confidence)
        verdict = 1 if iv.lo > 0 else -1 if iv.hi < 0 else 0
        comparisons[name] = Comparison(iv, verdict)
    return intervals, comparisons
